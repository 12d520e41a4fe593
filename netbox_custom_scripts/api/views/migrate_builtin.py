from core.api.serializers import JobSerializer
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet
from users.models import Token

from ...migrate_builtin import MigrationRefused, build_plan, may_migrate
from ...migrate_builtin import cleanup as cleanup_builtin
from ...migrate_builtin import verify as verify_builtin
from ...migrate_builtin.job import MigrationBusy, active_migration_job, enqueue_apply, normalise_only
from ..serializers.migrate_builtin import (
    MigrateBuiltinApplySerializer,
    MigrateBuiltinCleanupSerializer,
    MigratePlanSerializer,
    MigrateVerifySerializer,
)
from .root import Conflict, api_exception

__all__ = (
    'MigrateBuiltinViewSet',
)

BOOLEAN_VALUES = {'true': True, '1': True, 'false': False, '0': False}

ONLY_PARAMETER = OpenApiParameter(
    'only', OpenApiTypes.STR, description='Comma-separated names of the built-in modules to include (default: all)',
)
HISTORY_PARAMETER = OpenApiParameter(
    'history', OpenApiTypes.BOOL, description='Include the completed built-in jobs (imported as read-only runs)',
)


def builtin_module_names():
    from extras.models import ScriptModule as BuiltinModule

    return {module.python_name for module in BuiltinModule.objects.all()}


class MayMigrate(BasePermission):
    """Superusers, or users holding the `migrate` action on script modules; a write needs a write-enabled token."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method not in SAFE_METHODS and isinstance(request.auth, Token) and not request.auth.write_enabled:
            raise exceptions.PermissionDenied(_('This token does not allow write operations.'))
        return may_migrate(request.user)


class BadRequest(Exception):
    """A query or body the endpoint cannot take: a 400 under `key`."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def _query_only(request):
    if 'only' not in request.query_params:
        return None
    try:
        return normalise_only(request.query_params['only'])
    except MigrationRefused as exc:
        raise BadRequest('only', str(exc)) from exc


def _query_history(request):
    value = request.query_params.get('history', 'false').strip().lower()
    if value not in BOOLEAN_VALUES:
        raise BadRequest('history', _('"history" is true or false.'))
    return BOOLEAN_VALUES[value]


class MigrateBuiltinViewSet(ViewSet):
    """
    Moving NetBox's built-in scripts into the plugin (see docs/migration.md): the plan, apply as a background job,
    verify, cleanup. Every operation needs the `migrate` action on script modules (superusers have it).
    """
    permission_classes = [MayMigrate]

    def get_view_name(self):
        return 'Move from built-in scripts'

    def handle_exception(self, exc):
        if isinstance(exc, BadRequest):
            exc = exceptions.ValidationError({exc.key: [str(exc)]})
        elif isinstance(exc, MigrationRefused):
            # The user's right is checked before the core is called: what the core still refuses is the request
            # (an unknown module in `only`), or, for cleanup, the state of the installation (not verified yet).
            if self.action == 'cleanup':
                exc = Conflict(str(exc))
            else:
                exc = exceptions.ValidationError({'only': [str(exc)]})
        return super().handle_exception(api_exception(exc))

    @extend_schema(
        operation_id='plugins_custom_scripts_migrate_builtin_plan',
        parameters=[ONLY_PARAMETER, HISTORY_PARAMETER], responses={200: MigratePlanSerializer},
    )
    def list(self, request):
        """The plan: what apply would do with each built-in item, and what cannot be moved and why. Changes nothing."""
        plan = build_plan(only=_query_only(request), history=_query_history(request))
        return Response(plan.to_dict())

    @extend_schema(
        operation_id='plugins_custom_scripts_migrate_builtin_apply',
        request=MigrateBuiltinApplySerializer, responses={202: JobSerializer},
    )
    def create(self, request):
        """
        Apply the plan in a background job (returned; its `data` holds the progress and, when done, the result).
        One apply at a time: another queued or running one is a 409.
        """
        params = MigrateBuiltinApplySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = enqueue_apply(request.user, **params.validated_data)
        return Response(JobSerializer(job, context={'request': request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id='plugins_custom_scripts_migrate_builtin_verify',
        parameters=[ONLY_PARAMETER], responses={200: MigrateVerifySerializer},
    )
    @action(detail=False, methods=['get'])
    def verify(self, request):
        """Check every built-in item against its counterpart in the plugin; `ok` is false when anything is missing."""
        return Response(verify_builtin(only=_query_only(request)).to_dict())

    @extend_schema(
        operation_id='plugins_custom_scripts_migrate_builtin_cleanup', request=MigrateBuiltinCleanupSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description='What cleanup removed'),
                   409: OpenApiResponse(description='Not verified yet, or an apply is still running')},
    )
    @action(detail=False, methods=['post'])
    def cleanup(self, request):
        """
        Remove the built-in side of what was moved (modules, the disabled event rules, permissions no longer needed).
        Refused (409) unless verify passes, and while finished built-in jobs were not imported unless
        `discard_history` is true.
        """
        params = MigrateBuiltinCleanupSerializer(data=request.data or {})
        params.is_valid(raise_exception=True)
        only = params.validated_data['only']
        if only is not None:
            try:
                only = normalise_only(only)
            except MigrationRefused as exc:
                raise BadRequest('only', str(exc)) from exc
            unknown = sorted(set(only) - builtin_module_names())
            if unknown:
                raise BadRequest('only', _('No built-in script module named {names}.').format(names=', '.join(unknown)))
        busy = active_migration_job()
        if busy is not None:
            raise MigrationBusy(_('Job #{job} is still moving the built-in scripts; clean up after it finished.')
                                .format(job=busy.pk))
        done = cleanup_builtin(request.user, only=only, discard_history=params.validated_data['discard_history'])
        return Response(done.to_dict())
