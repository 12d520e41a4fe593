
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from netbox.api.viewsets import NetBoxReadOnlyModelViewSet
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ... import filtersets
from ...choices import RunSourceChoices
from ...execution import RunRequest, submit
from ...models import Script
from ...text import is_whole_number
from .. import serializers
from .root import ActionPermissionMixin, PluginViewSetMixin, request_fields

__all__ = (
    'ScriptViewSet',
)


class ScriptViewSet(PluginViewSetMixin, ActionPermissionMixin, NetBoxReadOnlyModelViewSet):
    queryset = Script.objects.select_related('module')
    serializer_class = serializers.ScriptSerializer
    filterset_class = filtersets.ScriptFilterSet
    # Scripts are addressed by ID or by `module.Class`, as in NetBox.
    lookup_value_regex = '[^/]+'
    action_permissions = {'run': 'run', 'test': 'run'}

    def get_queryset(self):
        if self.action in self.action_permissions:
            return self.queryset  # run/test render a run, not the script: nothing of it to prefetch
        queryset = super().get_queryset()
        if self.action == 'list':
            queryset = queryset.listed_for(self.request.user)
        return queryset

    def get_object(self):
        value = self.kwargs[self.lookup_field]
        queryset = self.filter_queryset(self.get_queryset())
        if is_whole_number(value):
            script = get_object_or_404(queryset, pk=value)
        else:
            try:
                script = queryset.get_by_reference(value)
            except Script.DoesNotExist:
                raise Http404(f'No script {value!r}.')
        self.check_object_permissions(self.request, script)
        return script

    @extend_schema(
        request=serializers.RunRequestSerializer,
        responses={
            201: serializers.ScriptRunSerializer,
            400: OpenApiResponse(description='Invalid inputs, per variable under "data"; unknown fields'),
            403: OpenApiResponse(description='Not allowed to run this script'),
            409: OpenApiResponse(description='The script cannot run now (broken module, singleton busy, ...)'),
            413: OpenApiResponse(description='The request body is too large'),
            429: OpenApiResponse(description="The script's rate limit was reached (see Retry-After)"),
        },
    )
    @action(detail=True, methods=['post'], parser_classes=[JSONParser, MultiPartParser, FormParser])
    def run(self, request, pk):
        """
        Run the script. `data` holds the inputs (object variables take IDs); with multipart, give `data` as a JSON
        string field and files as fields named after their variables. Returns the new run.
        """
        script = self.get_object()
        params = serializers.RunRequestSerializer(data=request_fields(request))
        params.is_valid(raise_exception=True)
        # The serializer's fields are RunRequest's. The core's refusals (invalid inputs, permission, policy, rate
        # limit) become API errors in PluginViewSetMixin.handle_exception().
        run = submit(RunRequest(
            script=script, user=request.user, source=RunSourceChoices.API, http_request=request._request,
            files=request.FILES or {}, **params.validated_data,
        ))
        data = serializers.ScriptRunSerializer(run, context={'request': request}).data
        return Response(data, status=status.HTTP_201_CREATED, headers={'Location': str(data['url'])})

    @extend_schema(
        request=None,
        responses={
            201: serializers.ScriptRunSerializer,
            403: OpenApiResponse(description='Not allowed to run this script'),
            409: OpenApiResponse(description='The script has no tests, or cannot run now'),
        },
    )
    @action(detail=True, methods=['post'])
    def test(self, request, pk):
        """
        Run the script's own tests (its test_* methods) against the live data in a transaction that is always rolled
        back. Returns the new run; the script's `health` says how its last tests went.
        """
        script = self.get_object()
        run = submit(RunRequest(
            script=script, user=request.user, source=RunSourceChoices.API, http_request=request._request,
            health_check=True,
        ))
        data = serializers.ScriptRunSerializer(run, context={'request': request}).data
        return Response(data, status=status.HTTP_201_CREATED, headers={'Location': str(data['url'])})
