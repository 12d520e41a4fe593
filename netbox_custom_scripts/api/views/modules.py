from core.api.serializers import JobSerializer
from drf_spectacular.utils import extend_schema
from netbox.api.authentication import TokenSyncPermission
from netbox.api.viewsets import NetBoxReadOnlyModelViewSet
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import filtersets
from ...execution.dispatch import enqueue_directory_sync
from ...models import ScriptModule
from .. import serializers
from .root import SyncOnListMixin

__all__ = (
    'ScriptModuleViewSet',
)


class ScriptModuleViewSet(SyncOnListMixin, NetBoxReadOnlyModelViewSet):
    queryset = ScriptModule.objects.select_related('current_revision')
    serializer_class = serializers.ScriptModuleSerializer
    filterset_class = filtersets.ScriptModuleFilterSet

    def get_permissions(self):
        if self.action == 'sync':
            return [TokenSyncPermission()]
        return super().get_permissions()

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=False, methods=['post'])
    def sync(self, request):
        """Queue a background job that re-reads the scripts directory (needs the `sync` action on modules)."""
        job = enqueue_directory_sync(request.user)
        if job is None:
            return Response({'detail': 'No scripts directory is configured (setting scripts_dir).'},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(JobSerializer(job, context={'request': request}).data, status=status.HTTP_202_ACCEPTED)
