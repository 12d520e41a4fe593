from django.db import DataError, transaction
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.routers import APIRootView
from rest_framework.views import APIView
from users.models import Token

from ...execution.modules import sync_directory

__all__ = (
    'ActionPermissionMixin',
    'CustomScriptsRootView',
    'PluginViewSetMixin',
    'SyncOnListMixin',
)


class CustomScriptsRootView(APIRootView):
    def get_view_name(self):
        return 'Custom Scripts'


class SyncOnListMixin:
    """Pick up changed files of the scripts directory before listing (a stat of each file when nothing changed)."""

    def list(self, request, *args, **kwargs):
        sync_directory()
        return super().list(request, *args, **kwargs)


class PluginViewSetMixin:
    """What every viewset of the plugin does on top of NetBox's."""

    def filter_queryset(self, queryset):
        # The list filters belong to the list: a run's or module's own endpoints reuse names such as `q` and
        # `level` for their lines, and must not lose the object to a list filter.
        if self.action != 'list':
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        # In a savepoint, so that a value the database rejects (below) leaves an enclosing transaction usable.
        with transaction.atomic():
            return super().list(request, *args, **kwargs)

    def handle_exception(self, exc):
        # A filter value the database cannot take (a regular expression that does not compile, a date out of
        # range) is the client's error, not a server error.
        if isinstance(exc, DataError):
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else 'invalid value'
            exc = exceptions.ValidationError({'detail': [f'A query value the database rejects: {message}']})
        return super().handle_exception(exc)


class _ModelActionPermission(BasePermission):
    """The user holds `action` on the view's model (objects are narrowed by the queryset), and a token used for an
    unsafe method is write-enabled."""

    def __init__(self, action):
        self.action = action

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method not in SAFE_METHODS and isinstance(request.auth, Token) and not request.auth.write_enabled:
            raise exceptions.PermissionDenied('This token does not allow write operations.')
        model = view.queryset.model
        return request.user.has_perm(f'{model._meta.app_label}.{self.action}_{model._meta.model_name}')


class ActionPermissionMixin:
    """
    Custom actions checked against their own permission action (e.g. `run` on scripts, `cancel` on runs) instead
    of the `add` that NetBox maps a POST to, both for the model and for the objects the queryset may return.
    """
    action_permissions = {}

    def get_permissions(self):
        if self.action in self.action_permissions:
            return [_ModelActionPermission(self.action_permissions[self.action])]
        return super().get_permissions()

    def initial(self, request, *args, **kwargs):
        if self.action not in self.action_permissions:
            return super().initial(request, *args, **kwargs)
        APIView.initial(self, request, *args, **kwargs)
        self.queryset = self.queryset.restrict(request.user, self.action_permissions[self.action])
