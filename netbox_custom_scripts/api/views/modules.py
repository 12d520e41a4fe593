from core.api.serializers import JobSerializer
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from netbox.api.authentication import TokenSyncPermission
from netbox.api.viewsets import NetBoxModelViewSet
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import filtersets
from ...execution import enqueue_directory_sync, enqueue_revision_activation
from ...models import ScriptModule
from ...text import is_whole_number
from .. import serializers
from .root import ActionPermissionMixin, PluginViewSetMixin

__all__ = (
    'ScriptModuleViewSet',
)


class ScriptModuleViewSet(PluginViewSetMixin, ActionPermissionMixin, NetBoxModelViewSet):
    """
    Script modules. POST creates one from `source_code` (JSON), an uploaded `file` (multipart) or a `data_file`;
    PUT/PATCH replaces an uploaded module's source (a new revision when it changed); DELETE removes a module with its
    revisions and scripts. Uploading needs the `add` permission on script modules, and runs the module's code on
    the server.
    """
    # A data file's content is not part of the module's representation: leave it in the database.
    queryset = ScriptModule.objects.select_related(
        'current_revision', 'pending_revision', 'data_source', 'data_file',
    ).defer('data_file__data', 'current_revision__source_code', 'pending_revision__source_code')
    action_permissions = {'activate': 'change'}
    serializer_class = serializers.ScriptModuleSerializer
    filterset_class = filtersets.ScriptModuleFilterSet

    def get_permissions(self):
        if self.action == 'sync':
            return [TokenSyncPermission()]
        return super().get_permissions()

    @extend_schema(request=serializers.ActivateRequestSerializer, responses={202: JobSerializer})
    @action(detail=True, methods=['post'])
    def activate(self, request, pk):
        """
        Activate the module's pending revision (new code from its data source that nobody who may change the module
        has answered for yet), giving its number as reviewed: a background job imports it and makes it current.
        Newer code arrived since is a 409. Needs `change` on the module.
        """
        params = serializers.ActivateRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = enqueue_revision_activation(self.get_object(), request.user, params.validated_data['revision'])
        return Response(JobSerializer(job, context={'request': request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={
        202: JobSerializer, 409: OpenApiResponse(description='No scripts directory is configured'),
    })
    @action(detail=False, methods=['post'])
    def sync(self, request):
        """Queue a background job that re-reads the scripts directory (needs the `sync` action on modules)."""
        job = enqueue_directory_sync(request.user)  # no scripts directory: a 409 (PluginViewSetMixin)
        return Response(JobSerializer(job, context={'request': request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={200: serializers.ModuleRevisionSerializer(many=True)},
        parameters=[OpenApiParameter('number', int, description='Return this revision only, with its source code')],
    )
    @action(detail=True, methods=['get'])
    def revisions(self, request, pk):
        """The module's revisions, newest first: number, SHA-256, author, date. `?number=N`: one, with its source."""
        module = self.get_object()
        revisions = module.revisions.select_related('module', 'created_by').order_by('-number')
        number = request.query_params.get('number')
        if number is not None:
            if not is_whole_number(number):
                return Response({'number': ['A revision number is a positive integer.']},
                                status=status.HTTP_400_BAD_REQUEST)
            revision = get_object_or_404(revisions, number=int(number))
            return Response(serializers.ModuleRevisionSourceSerializer(revision, context={'request': request}).data)
        page = self.paginate_queryset(revisions.defer('source_code'))
        data = serializers.ModuleRevisionSerializer(page, many=True, context={'request': request}).data
        return self.get_paginated_response(data)
