"""The schedules endpoint: repeating (interval or cron) and one-off runs of a script, with pause and resume."""
from drf_spectacular.utils import extend_schema
from netbox.api.viewsets import NetBoxModelViewSet
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import filtersets
from ...execution import (
    create_schedule,
    pause_schedule,
    resume_schedule,
    update_schedule,
)
from ...models import Schedule
from .. import serializers
from .root import ActionPermissionMixin, PluginViewSetMixin

__all__ = (
    'ScheduleViewSet',
)


class ScheduleViewSet(PluginViewSetMixin, ActionPermissionMixin, NetBoxModelViewSet):
    """Schedules: repeating (interval or cron) or one-off runs of a script, with pause and resume."""
    queryset = Schedule.objects.select_related('script__module', 'user')
    serializer_class = serializers.ScheduleSerializer
    filterset_class = filtersets.ScheduleFilterSet
    action_permissions = {'pause': 'change', 'resume': 'change'}

    # Errors in the schedule's own terms: its inputs under "inputs", its timing under its own field names.
    inputs_key = 'inputs'
    option_keys = ('start_at', 'interval', 'cron', 'commit', 'notifications', 'branch')

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = create_schedule(
            data['script'], user=self.request.user, inputs=data.get('inputs') or {}, commit=data.get('commit'),
            start_at=data.get('start_at'), interval=data.get('interval'), cron=data.get('cron', ''),
            name=data.get('name'), description=data.get('description', ''),
            notifications=data.get('notifications'), health_check=data.get('health_check', False),
            branch=data.get('branch_name') or None,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop('script', None)  # a schedule keeps its script
        data.pop('user', None)
        data.pop('tags', None)
        data.pop('custom_fields', None)
        if 'branch_name' in data:
            data['branch'] = data.pop('branch_name') or None
        serializer.instance = update_schedule(serializer.instance, self.request.user, **data)

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
        return Response(self.get_serializer(resume_schedule(schedule, request.user)).data)
