import json

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, transaction
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.routers import APIRootView
from rest_framework.views import APIView
from users.models import Token

from ...execution import InputError, RateLimited, RunRefused, run_options

__all__ = (
    'ActionPermissionMixin',
    'CustomScriptsRootView',
    'PluginViewSetMixin',
    'api_exception',
    'request_fields',
)

# Errors about how a run is started (rather than about one of the script's inputs) keep their own key in a 400 (the
# declared run options' included); the script's inputs go under "data".
RUN_OPTION_KEYS = (
    'schedule_at', 'interval', 'cron', 'commit', 'queue', 'comment', 'branch', 'new_branch',
    *(name for name, __ in run_options()),
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = 'conflict'


class RateLimitExceeded(exceptions.APIException):
    # DRF's Throttled would append its own "Expected available in N seconds." to the core's message.
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = 'rate_limited'

    def __init__(self, detail, wait):
        super().__init__(detail)
        self.wait = wait  # DRF's exception handler sends it as Retry-After


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = 'request_too_large'


def input_error_body(exc, inputs_key='data', option_keys=RUN_OPTION_KEYS):
    """A 400 body in NetBox's format: options under their own key, the script's inputs under `inputs_key`."""
    errors = dict(exc.message_dict)
    body = {key: errors.pop(key) for key in option_keys if key in errors}
    if errors:
        body[inputs_key] = errors
    return body


def api_exception(exc, inputs_key='data', option_keys=RUN_OPTION_KEYS):
    """
    The core's errors as REST API errors, the same on every endpoint: invalid input 400, permission 403, a run
    that cannot start now (module broken, singleton busy, already finished) 409, a rate limit 429 with
    Retry-After, a request body over NetBox's DATA_UPLOAD_MAX_MEMORY_SIZE 413.
    """
    if isinstance(exc, InputError):
        return exceptions.ValidationError(input_error_body(exc, inputs_key, option_keys))
    if isinstance(exc, RateLimited):
        return RateLimitExceeded(str(exc), exc.retry_after)
    if isinstance(exc, RunRefused):
        return Conflict(str(exc))
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RecursionError):  # JSON nested deeper than the parser can follow
        return exceptions.ParseError(_('The request body is nested too deeply.'))
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge(_('The request body is larger than this NetBox accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).'))
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, 'error_dict') else {'detail': exc.messages})
    if isinstance(exc, DataError):
        # A filter value the database cannot take (a regular expression that does not compile, a date out of
        # range) is the client's error, not a server error.
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else 'invalid value'
        return exceptions.ValidationError({'detail': [f'A query value the database rejects: {message}']})
    return exc


def request_fields(request):
    """
    The request's fields as one mapping: JSON as it is; a multipart or form body (which sends files beside the
    fields, and structured fields as strings) flattened, with its `data` field read as the JSON it carries.
    """
    payload = request.data
    if not hasattr(payload, 'getlist'):
        return payload
    payload = {key: payload.get(key) for key in payload if key not in request.FILES}
    if isinstance(payload.get('data'), str):
        try:
            payload['data'] = json.loads(payload['data'] or '{}')
        except ValueError:
            raise exceptions.ValidationError({'data': ['Must be a JSON object of input values.']})
    return payload


class CustomScriptsRootView(APIRootView):
    def get_view_name(self):
        return 'Custom Scripts'


class PluginViewSetMixin:
    """What every viewset of the plugin does on top of NetBox's."""
    # Actions that take no request body: one that sends fields anyway (a typo, a misunderstanding) is refused.
    bodyless_actions = ('cancel', 'test', 'sync', 'pause', 'resume')

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action in self.bodyless_actions and request.data:
            fields = ', '.join(sorted(map(str, request.data))) if hasattr(request.data, 'keys') else 'a body'
            raise exceptions.ValidationError({'detail': [
                _('This action takes no fields; got {fields}.').format(fields=fields)
            ]})

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

    # Where a 400 puts the script's input errors, and which error keys are the endpoint's own fields.
    inputs_key = 'data'
    option_keys = RUN_OPTION_KEYS

    def handle_exception(self, exc):
        return super().handle_exception(api_exception(exc, self.inputs_key, self.option_keys))


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
