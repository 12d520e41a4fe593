from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from netbox.api.viewsets import NetBoxModelViewSet, NetBoxReadOnlyModelViewSet
from rest_framework import mixins as drf_mixins
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ... import filtersets
from ...choices import RunSourceChoices
from ...execution.approvals import approve_run, reject_run
from ...execution.dispatch import cancel_run, rerun
from ...execution.errors import RateLimited, RunRefused
from ...execution.inputs import InputError
from ...execution.schedules import create_schedule, pause_schedule, resume_schedule, update_schedule
from ...execution.watchdog import reap_stale_runs
from ...models import Schedule, ScriptRun
from ...scripting.log import LOG_LEVELS
from ...text import is_whole_number
from .. import serializers
from .root import ActionPermissionMixin, PluginViewSetMixin

__all__ = (
    'ScheduleViewSet',
    'ScriptRunViewSet',
)


class ScriptRunViewSet(PluginViewSetMixin, ActionPermissionMixin, drf_mixins.DestroyModelMixin,
                       NetBoxReadOnlyModelViewSet):
    """Runs: list, retrieve, delete; their log, changes, files and output; cancel, re-run and apply."""
    queryset = ScriptRun.objects.select_related('script__module', 'user', 'revision')
    serializer_class = serializers.ScriptRunSerializer
    filterset_class = filtersets.ScriptRunFilterSet
    # Re-running and applying need the run to be visible, and `run` on its script (checked by submit_run());
    # reviewing needs the run to be visible, approve_run()/reject_run() check the `approve` action on its script.
    action_permissions = {'cancel': 'cancel', 'rerun': 'view', 'apply': 'view', 'approve': 'view', 'reject': 'view'}

    def get_serializer_class(self):
        # A page of runs could hold a megabyte of output each: the list leaves output and traceback to the run.
        if self.action == 'list':
            return serializers.ScriptRunListSerializer
        return super().get_serializer_class()

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == 'list':
            queryset = queryset.defer('traceback', 'output')
        return queryset

    def retrieve(self, request, *args, **kwargs):
        run = self.get_object()
        if run.is_active and reap_stale_runs(ScriptRun.objects.filter(pk=run.pk)):
            run.refresh_from_db()
        return Response(self.get_serializer(run).data)

    def perform_destroy(self, instance):
        if instance.is_active:
            cancel_run(instance, self.request.user)
        instance.delete()

    def _paginated(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        serializer = serializer_class(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        parameters=[
            OpenApiParameter('level', OpenApiTypes.STR, description='Minimum level', enum=list(LOG_LEVELS)),
            OpenApiParameter('since', OpenApiTypes.INT, description='Only lines after this line ID (for streaming)'),
            OpenApiParameter('q', OpenApiTypes.STR, description='Text the message or object contains'),
        ],
        responses={200: serializers.RunLogEntrySerializer(many=True)},
    )
    @action(detail=True, methods=['get'])
    def log(self, request, pk):
        """The run's log lines, oldest first. Poll with `since=<last id seen>` to follow a running run."""
        run = self.get_object()
        entries = run.log_entries.select_related('object_type').order_by('id')
        level = request.query_params.get('level')
        if level:
            if level not in LOG_LEVELS:
                raise ValidationError({'level': [f'Must be one of {", ".join(LOG_LEVELS)}.']})
            entries = entries.filter(level__in=LOG_LEVELS[LOG_LEVELS.index(level):])
        since = request.query_params.get('since')
        if since not in (None, ''):
            if not is_whole_number(since):
                raise ValidationError({'since': ['Must be a log line ID (a whole number).']})
            entries = entries.filter(id__gt=int(since))
        if query := (request.query_params.get('q') or '').strip():
            entries = entries.filter(Q(message__icontains=query) | Q(object_repr__icontains=query))
        return self._paginated(entries, serializers.RunLogEntrySerializer)

    @extend_schema(responses={200: serializers.RunChangeSerializer(many=True)})
    @action(detail=True, methods=['get'])
    def changes(self, request, pk):
        """The objects the run created, updated or deleted (for a dry run: would have)."""
        run = self.get_object()
        changes = run.changes.select_related('object_type').order_by('id')
        return self._paginated(changes, serializers.RunChangeSerializer)

    @extend_schema(responses={200: serializers.RunFileSerializer(many=True)})
    @action(detail=True, methods=['get'])
    def files(self, request, pk):
        """Files the script attached to the run."""
        run = self.get_object()
        return self._paginated(run.files.defer('content').order_by('id'), serializers.RunFileSerializer)

    @extend_schema(
        parameters=[OpenApiParameter('file', OpenApiTypes.INT, required=True, description='File ID')],
        responses={(200, 'application/octet-stream'): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=['get'])
    def download(self, request, pk):
        """Download one file of the run."""
        run = self.get_object()
        file_id = request.query_params.get('file', '')
        if not is_whole_number(file_id):
            raise ValidationError({'file': ["Give the ID of one of the run's files."]})
        attachment = run.files.filter(pk=int(file_id)).first()
        if attachment is None:
            raise NotFound('No such file in this run.')
        response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
        response['Content-Disposition'] = 'attachment; filename="{}"'.format(attachment.name.replace('"', ''))
        response['X-Content-Type-Options'] = 'nosniff'
        return response

    @extend_schema(responses={(200, 'text/plain'): OpenApiTypes.STR})
    @action(detail=True, methods=['get'])
    def output(self, request, pk):
        """What run() returned: text, or JSON when it returned a dict or a list."""
        run = self.get_object()
        content_type = 'application/json' if run.output_format == 'json' else 'text/plain; charset=utf-8'
        return HttpResponse(run.output, content_type=content_type)

    @extend_schema(request=None, responses={200: serializers.ScriptRunSerializer, 409: OpenApiResponse()})
    @action(detail=True, methods=['post'])
    def cancel(self, request, pk):
        """Cancel a queued, scheduled or running run (a running one stops within seconds and rolls back)."""
        run = cancel_run(self.get_object(), request.user)
        return Response(self.get_serializer(run).data)

    def _rerun(self, request, commit):
        run = self.get_object()
        payload = request.data
        if hasattr(payload, 'getlist'):
            payload = {key: payload.get(key) for key in payload if key not in request.FILES}
        params = serializers.RerunRequestSerializer(data=payload)
        params.is_valid(raise_exception=True)
        if commit is None:
            commit = params.validated_data['commit']
        elif params.validated_data['commit'] is not None and params.validated_data['commit'] != commit:
            raise ValidationError({'commit': ['Applying a dry run always commits; leave "commit" out.']})
        new_run = rerun(
            run, user=request.user, source=RunSourceChoices.API, commit=commit,
            data=params.validated_data['data'], files=request.FILES or None, http_request=request._request,
        )
        data = self.get_serializer(new_run).data
        return Response(data, status=status.HTTP_201_CREATED, headers={'Location': str(data['url'])})

    @extend_schema(request=serializers.RerunRequestSerializer, responses={201: serializers.ScriptRunSerializer})
    @action(detail=True, methods=['post'], parser_classes=[JSONParser, MultiPartParser, FormParser])
    def rerun(self, request, pk):
        """Run the script again with this run's inputs (give secret and file inputs again in `data`/files)."""
        return self._rerun(request, commit=None)

    @extend_schema(request=serializers.RerunRequestSerializer, responses={201: serializers.ScriptRunSerializer})
    @action(detail=True, methods=['post'], parser_classes=[JSONParser, MultiPartParser, FormParser])
    def apply(self, request, pk):
        """Apply a reviewed dry run: run it again with the same inputs and commit on."""
        run = self.get_object()
        if run.commit:
            raise RunRefused('Only a dry run can be applied; this run already committed.')
        return self._rerun(request, commit=True)

    def _review(self, request, decide):
        run = self.get_object()
        params = serializers.ReviewRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        return decide(run, request.user, params.validated_data['comment'])

    @extend_schema(request=serializers.ReviewRequestSerializer,
                   responses={201: serializers.ScriptRunSerializer, 409: OpenApiResponse()})
    @action(detail=True, methods=['post'])
    def approve(self, request, pk):
        """Approve a run awaiting approval (not your own): its committed run starts and is returned."""
        def decide(run, user, comment):
            committed = approve_run(run, user, comment, http_request=request._request)
            data = self.get_serializer(committed).data
            return Response(data, status=status.HTTP_201_CREATED, headers={'Location': str(data['url'])})
        return self._review(request, decide)

    @extend_schema(request=serializers.ReviewRequestSerializer,
                   responses={200: serializers.ScriptRunSerializer, 409: OpenApiResponse()})
    @action(detail=True, methods=['post'])
    def reject(self, request, pk):
        """Reject a run awaiting approval (not your own), with a comment saying why."""
        def decide(run, user, comment):
            return Response(self.get_serializer(reject_run(run, user, comment)).data)
        return self._review(request, decide)


class ScheduleViewSet(PluginViewSetMixin, ActionPermissionMixin, NetBoxModelViewSet):
    """Schedules: repeating (interval or cron) or one-off runs of a script, with pause and resume."""
    queryset = Schedule.objects.select_related('script__module', 'user')
    serializer_class = serializers.ScheduleSerializer
    filterset_class = filtersets.ScheduleFilterSet
    action_permissions = {'pause': 'change', 'resume': 'change'}

    def _translate(self, func):
        try:
            return func()
        except InputError as exc:
            errors = exc.message_dict
            if 'schedule_at' in errors:  # the core's name for what a schedule calls start_at
                errors.setdefault('start_at', []).extend(errors.pop('schedule_at'))
            body = {key: errors.pop(key) for key in ('interval', 'cron', 'start_at') if key in errors}
            if errors:
                body['inputs'] = errors
            raise ValidationError(body)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, 'error_dict') else {'detail': exc.messages})
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc))
        except RateLimited:
            raise
        except RunRefused as exc:
            raise ValidationError({'script_id': [str(exc)]})

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = self._translate(lambda: create_schedule(
            data['script'], user=self.request.user, inputs=data.get('inputs') or {}, commit=data.get('commit', False),
            start_at=data.get('start_at'), interval=data.get('interval'), cron=data.get('cron', ''),
            name=data.get('name'), description=data.get('description', ''),
            notifications=data.get('notifications'), health_check=data.get('health_check', False),
        ))

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop('script', None)  # a schedule keeps its script
        data.pop('user', None)
        data.pop('tags', None)
        data.pop('custom_fields', None)
        serializer.instance = self._translate(lambda: update_schedule(serializer.instance, self.request.user, **data))

    @extend_schema(request=None, responses={200: serializers.ScheduleSerializer})
    @action(detail=True, methods=['post'])
    def pause(self, request, pk):
        """Stop making runs (the queued one is cancelled); settings are kept."""
        schedule = self.get_object()
        return Response(self.get_serializer(pause_schedule(schedule, request.user)).data)

    @extend_schema(request=None, responses={200: serializers.ScheduleSerializer})
    @action(detail=True, methods=['post'])
    def resume(self, request, pk):
        """Start making runs again."""
        schedule = self.get_object()
        return Response(self.get_serializer(self._translate(lambda: resume_schedule(schedule, request.user))).data)
