from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from netbox.api.viewsets import NetBoxReadOnlyModelViewSet
from rest_framework import mixins as drf_mixins
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ... import filtersets
from ...choices import RunSourceChoices
from ...execution import (
    RunRefused,
    approve_run,
    cancel_run,
    reject_run,
    rerun,
)
from ...models import RunLog, ScriptRun
from ...scripting.log import LOG_LEVELS
from ...text import is_whole_number
from .. import serializers
from .root import ActionPermissionMixin, PluginViewSetMixin, request_fields

__all__ = (
    'ScriptRunViewSet',
)


class ScriptRunViewSet(PluginViewSetMixin, ActionPermissionMixin, drf_mixins.DestroyModelMixin,
                       NetBoxReadOnlyModelViewSet):
    """Runs: list, retrieve, delete; their log, changes, files and output; cancel, re-run and apply."""
    queryset = ScriptRun.objects.select_related('script__module', 'user', 'revision')
    serializer_class = serializers.ScriptRunSerializer
    filterset_class = filtersets.ScriptRunFilterSet
    # Re-running and applying need the run to be visible, and `run` on its script (checked when the run is submitted);
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
        level = request.query_params.get('level')
        if level and level not in LOG_LEVELS:
            raise ValidationError({'level': [f'Must be one of {", ".join(LOG_LEVELS)}.']})
        since = request.query_params.get('since')
        if since not in (None, '') and not is_whole_number(since):
            raise ValidationError({'since': ['Must be a log line ID (a whole number).']})
        entries = RunLog(run.pk, min_level=level, query=request.query_params.get('q'), after=int(since or 0))
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
        params = serializers.RerunRequestSerializer(data=request_fields(request))
        params.is_valid(raise_exception=True)
        fields = dict(params.validated_data)
        given = fields.pop('commit')
        if commit is None:
            commit = given
        elif given is not None and given != commit:
            raise ValidationError({'commit': ['Applying a dry run always commits; leave "commit" out.']})
        # The serializer's other fields are RunRequest's (data and the declared run options).
        new_run = rerun(
            run, user=request.user, source=RunSourceChoices.API, commit=commit, files=request.FILES or {},
            http_request=request._request, **fields,
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


