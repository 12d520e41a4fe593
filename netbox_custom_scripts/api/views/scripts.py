from netbox.api.viewsets import NetBoxReadOnlyModelViewSet

from ... import filtersets
from ...models import Script
from .. import serializers
from .root import SyncOnListMixin

__all__ = (
    'ScriptViewSet',
)


class ScriptViewSet(SyncOnListMixin, NetBoxReadOnlyModelViewSet):
    queryset = Script.objects.select_related('module')
    serializer_class = serializers.ScriptSerializer
    filterset_class = filtersets.ScriptFilterSet
