from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from netbox.api.fields import ChoiceField, ContentTypeField
from netbox.api.serializers import BaseModelSerializer
from rest_framework import serializers
from users.api.serializers_.users import UserSerializer

from ...choices import ChangeActionChoices, LogLevelChoices, NotificationChoices, RunSourceChoices, RunStatusChoices
from ...cron import MAX_CRON_LENGTH, MAX_INTERVAL_MINUTES
from ...execution import run_options, summarised_inputs
from ...models import RunChange, RunFile, ScriptRun
from .base import RejectUnknownFieldsMixin
from .scripts import ScriptSerializer

__all__ = (
    'RunChangeSerializer',
    'RunFileSerializer',
    'RunLogEntrySerializer',
    'RunRequestSerializer',
    'RerunRequestSerializer',
    'ReviewRequestSerializer',
    'ScriptRunListSerializer',
    'ScriptRunSerializer',
)


class ScriptRunSerializer(BaseModelSerializer):
    script = ScriptSerializer(nested=True, read_only=True)
    user = UserSerializer(nested=True, read_only=True)
    status = ChoiceField(choices=RunStatusChoices, read_only=True)
    source = ChoiceField(choices=RunSourceChoices, read_only=True)
    notifications = ChoiceField(choices=NotificationChoices, read_only=True)
    revision = serializers.IntegerField(source='revision.number', read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField()
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    rerun_of = serializers.PrimaryKeyRelatedField(read_only=True)
    schedule = serializers.PrimaryKeyRelatedField(read_only=True)
    reviewed_by = UserSerializer(nested=True, read_only=True)
    approval_of = serializers.PrimaryKeyRelatedField(read_only=True)
    approved_run = serializers.SerializerMethodField()
    branch = serializers.SerializerMethodField()

    class Meta:
        model = ScriptRun
        fields = (
            'id', 'url', 'display_url', 'display', 'script', 'script_name', 'revision', 'content_hash', 'status',
            'commit', 'user', 'source', 'request_id', 'inputs', 'queue', 'job_timeout', 'notifications', 'created',
            'scheduled_at', 'started', 'completed', 'progress', 'log_counts', 'change_count', 'output_format',
            'output', 'error', 'traceback', 'cancel_requested', 'rerun_of', 'schedule', 'job', 'health_check',
            'approval_requested', 'reviewed_by', 'reviewed', 'review_comment', 'approval_of', 'approved_run',
            'branch',
        )
        brief_fields = ('id', 'url', 'display', 'script_name', 'status', 'commit', 'created')

    @extend_schema_field({
        'type': 'object', 'nullable': True,
        'properties': {'id': {'type': 'integer'}, 'name': {'type': 'string'}, 'staged': {'type': 'boolean'}},
    })
    def get_branch(self, obj):
        """The netbox-branching branch the run executed in (null: main); `staged`: it created the branch."""
        if obj.branch_id is None:
            return None
        return {'id': obj.branch_id, 'name': obj.branch_name, 'staged': obj.branch_staged}

    @extend_schema_field({'type': 'integer', 'nullable': True})
    def get_approved_run(self, obj):
        """The committed run started when this request was approved."""
        if obj.status != RunStatusChoices.APPROVED:
            return None
        return ScriptRun.objects.filter(approval_of=obj.pk).values_list('pk', flat=True).first()

    @extend_schema_field({
        'type': 'object', 'nullable': True,
        'properties': {
            'done': {'type': 'number'}, 'total': {'type': 'number'}, 'percent': {'type': 'integer'},
            'message': {'type': 'string'},
        },
    })
    def get_progress(self, obj):
        if obj.progress_total is None:
            return None
        return {
            'done': obj.progress_done, 'total': obj.progress_total, 'percent': obj.progress_percent,
            'message': obj.progress_message,
        }


class ScriptRunListSerializer(ScriptRunSerializer):
    """
    A run in a list: without its output and traceback, and with long input values summarised - a page may hold a
    thousand runs, each with megabytes of them. The run itself has them whole.
    """
    inputs = serializers.SerializerMethodField()

    class Meta(ScriptRunSerializer.Meta):
        fields = tuple(name for name in ScriptRunSerializer.Meta.fields if name not in ('output', 'traceback'))

    @extend_schema_field({'type': 'object', 'additionalProperties': True})
    def get_inputs(self, obj):
        return summarised_inputs(obj.inputs)


class RunLogEntrySerializer(serializers.Serializer):
    """A line of a run's log (a models.LogLine); `id` is its line number, from 1."""
    id = serializers.IntegerField(read_only=True)
    time = serializers.DateTimeField(read_only=True)
    level = ChoiceField(choices=LogLevelChoices, read_only=True)
    message = serializers.CharField(read_only=True)
    object_type = ContentTypeField(read_only=True)
    object_id = serializers.IntegerField(read_only=True, allow_null=True)
    object_repr = serializers.CharField(read_only=True)
    object_url = serializers.CharField(source='url', read_only=True)
    test = serializers.CharField(read_only=True)


class RunChangeSerializer(serializers.ModelSerializer):
    action = ChoiceField(choices=ChangeActionChoices, read_only=True)
    object_type = ContentTypeField(read_only=True)

    class Meta:
        model = RunChange
        fields = ('id', 'time', 'action', 'object_type', 'object_id', 'object_repr', 'prechange_data',
                  'postchange_data')


class RunFileSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = RunFile
        fields = ('id', 'name', 'content_type', 'size', 'created', 'download_url')

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, obj):
        url = reverse('plugins-api:netbox_custom_scripts-api:scriptrun-download', args=[obj.run_id])
        request = self.context.get('request')
        url = f'{url}?file={obj.pk}'
        return request.build_absolute_uri(url) if request else url


class RunRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../scripts/<id or module.Class>/run/ takes."""
    data = serializers.JSONField(
        required=False, default=dict,
        help_text='Input values by variable name (object variables take IDs; files go as multipart fields)',
    )
    commit = serializers.BooleanField(required=False, allow_null=True, default=None,
                                      help_text="Commit the changes (default: the script's commit_default)")
    schedule_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    interval = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                        max_value=MAX_INTERVAL_MINUTES,
                                        help_text='Repeat every this many minutes (creates a schedule)')
    cron = serializers.CharField(required=False, allow_blank=True, default='', max_length=MAX_CRON_LENGTH,
                                 help_text='Repeat on this cron expression (five fields), in UTC (creates a schedule)')
    queue = serializers.CharField(required=False, allow_blank=True, default='',
                                  help_text="RQ queue, one of the script's Meta.allowed_queues (default: its own)")
    branch = serializers.JSONField(
        required=False, allow_null=True,
        help_text='netbox-branching: the branch to run in (its name or ID; null: main), or {"new": "name"} to stage '
                  'the changes in a new branch. Left out: the branch of the X-NetBox-Branch header, or main',
    )

    def validate_data(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object of input values by variable name.')
        return value

    def validate_branch(self, value):
        if isinstance(value, dict):
            if set(value) != {'new'} or not isinstance(value['new'], str) or not value['new'].strip():
                raise serializers.ValidationError('Give {"new": "<branch name>"} to stage in a new branch.')
            return value
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise serializers.ValidationError('Must be a branch name or ID, null (main), or {"new": "<name>"}.')
        return value

    def validate(self, attrs):
        # As RunRequest takes it: an existing branch, or the name of a new one.
        if isinstance(attrs.get('branch'), dict):
            attrs['new_branch'] = attrs.pop('branch')['new']
        return attrs


def run_option_field(option):
    """The REST API's field for a declared run option (execution.RunOption); null or left out: the core decides."""
    common = dict(required=False, allow_null=True, default=None, help_text=str(option.help))
    if option.choices:
        return serializers.ChoiceField(choices=option.choices, **common)
    if option.kind is bool:
        return serializers.BooleanField(**common)
    if option.kind is int:
        return serializers.IntegerField(**common)
    return serializers.CharField(allow_blank=True, **common)


class RerunRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../runs/<id>/rerun/ takes: the earlier run's inputs are reused; give secrets and files again."""
    data = serializers.JSONField(required=False, default=dict)
    commit = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_data(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object of input values by variable name.')
        return value


# Every declared run option, as a field of the run and re-run endpoints.
for _serializer in (RunRequestSerializer, RerunRequestSerializer):
    _serializer._declared_fields.update({name: run_option_field(option) for name, option in run_options()})


class ReviewRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../runs/<id>/approve/ and .../reject/ take (a rejection needs the comment)."""
    comment = serializers.CharField(required=False, allow_blank=True, default='', max_length=2000)


