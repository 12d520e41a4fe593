from netbox.api.fields import ChoiceField
from netbox.api.serializers import NetBoxModelSerializer
from rest_framework import serializers
from users.api.serializers_.users import UserSerializer

from ...choices import NotificationChoices
from ...cron import MAX_INTERVAL_MINUTES
from ...models import Schedule, Script
from .base import RejectUnknownFieldsMixin
from .scripts import ScriptSerializer

__all__ = (
    'ScheduleSerializer',
)


class ScheduleSerializer(RejectUnknownFieldsMixin, NetBoxModelSerializer):
    read_only_hints = {
        'enabled': 'Read-only: pause or resume the schedule with POST .../pause/ or .../resume/.',
        'script': 'Read-only: give the script as script_id (a schedule keeps its script).',
        'user': 'Read-only: a schedule runs as the user who creates it or last changes it.',
    }
    script = ScriptSerializer(nested=True, read_only=True)
    interval = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_INTERVAL_MINUTES,
        help_text='Repeat every this many minutes (at most 366 days)',
    )
    script_id = serializers.IntegerField(write_only=True, required=False)
    user = UserSerializer(nested=True, read_only=True)
    notifications = ChoiceField(choices=NotificationChoices, required=False)
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    branch = serializers.CharField(
        source='branch_name', required=False, allow_blank=True, max_length=100,
        help_text='netbox-branching: the branch its runs execute in (name or ID); empty: main',
    )

    class Meta:
        model = Schedule
        fields = (
            'id', 'url', 'display_url', 'display', 'name', 'script', 'script_id', 'user', 'health_check', 'inputs',
            'commit', 'notifications', 'start_at', 'interval', 'cron', 'enabled', 'next_run_at', 'job', 'error',
            'description', 'tags', 'custom_fields', 'created', 'last_updated', 'branch',
        )
        read_only_fields = ('enabled', 'next_run_at', 'error')
        brief_fields = ('id', 'url', 'display', 'name', 'enabled', 'next_run_at')

    def validate(self, data):
        request = self.context['request']
        if 'script_id' in data:
            script = Script.objects.restrict(request.user, 'view').filter(pk=data.pop('script_id')).first()
            if script is None:
                raise serializers.ValidationError({'script_id': 'No such script.'})
            data['script'] = script
        elif self.instance is None:
            raise serializers.ValidationError({'script_id': 'This field is required.'})
        if self.instance is None:
            data['user'] = request.user  # a schedule runs as the user who creates it
        return super().validate(data)
