"""
What a run records of the world around it: the request it was started with (for `self.request` and change
logging), and the NetBox ObjectChanges its script makes, also when the transaction is broken.
"""
import json
import logging
import uuid
from collections import defaultdict
from contextlib import ExitStack, contextmanager, nullcontext

from core.models import ObjectChange
from django.db.models.signals import post_save
from django.http import QueryDict
from django.http.request import HttpHeaders
from netbox.context import current_request, events_queue, query_cache
from netbox.context_managers import event_tracking
from netbox.registry import registry
from utilities.request import NetBoxFakeRequest, copy_safe_request

from ..choices import ChangeActionChoices
from .branches import BRANCH_HEADER, BRANCH_QUERY_PARAMETER
from .inputs import SECRET_MASK

__all__ = (
    'build_run_request',
    'capture_request',
    'change_logging',
    'change_record',
    'change_tracking',
    'ChangeWatcher',
)

logger = logging.getLogger('netbox_custom_scripts.runner')


def capture_request(http_request, secret_fields=()):
    """
    What a run keeps of the HTTP request that started it, for `self.request`: plain data only - the safe headers,
    query and form data without secret values, method and path. No user, cookies or files: this travels in the
    queued RQ job, which Redis may keep for a long time.
    """
    if http_request is None:
        return None
    safe = copy_safe_request(http_request, include_files=False)
    post = safe.POST.copy() if hasattr(safe.POST, 'copy') else QueryDict(mutable=True)
    for name in (*secret_fields, 'csrfmiddlewaretoken'):
        post.pop(name, None)
    if secret_fields and 'data' in post:
        # The REST API takes the inputs of a multipart or form-encoded request as JSON in its `data` field.
        post.setlist('data', [_mask_json_inputs(value, secret_fields) for value in post.getlist('data')])
    # The run form is posted back to its own URL, which may pre-fill inputs (?password=...): secret ones go, from the
    # query, the query string and the referring URL alike.
    get = safe.GET.copy()
    for name in (*secret_fields, BRANCH_QUERY_PARAMETER):
        get.pop(name, None)
    meta = dict(safe.META)
    # The branch the run executes in is the one its record names (worker.py): netbox-branching must not pick
    # another from the copied request when NetBox's request processors run around the script.
    meta.pop('HTTP_' + BRANCH_HEADER.upper().replace('-', '_'), None)
    if 'QUERY_STRING' in meta:
        meta['QUERY_STRING'] = get.urlencode()
    if 'HTTP_REFERER' in meta:
        meta['HTTP_REFERER'] = meta['HTTP_REFERER'].split('?', 1)[0].split('#', 1)[0]
    return {
        'META': meta,
        'GET': {key: get.getlist(key) for key in get},
        'POST': {key: post.getlist(key) for key in post},
        'method': safe.method,
        'path': safe.path,
        'path_info': safe.path_info,
    }


def _query_dict(lists):
    query = QueryDict(mutable=True)
    for key, values in (lists or {}).items():
        query.setlist(key, list(values))
    return query


def build_run_request(run, user, captured=None):
    """
    What a script sees as `self.request`, and what change logging attributes changes to: the user, the run's own
    request ID, and - for runs started over HTTP - what capture_request() kept of the original request.
    """
    data = {
        'user': user,
        'id': run.request_id,
        'META': {},
        'GET': QueryDict(),
        'POST': QueryDict(),
        'COOKIES': {},
        'FILES': {},
        'method': 'POST',
        'path': '',
        'path_info': '',
        # How deep in a chain of event-rule runs this one is (see event_rules.MAX_EVENT_DEPTH).
        'custom_script_event_depth': (run.event or {}).get('depth', 0),
    }
    if captured:
        data.update(
            META=dict(captured.get('META') or {}), GET=_query_dict(captured.get('GET')),
            POST=_query_dict(captured.get('POST')), method=captured.get('method') or 'POST',
            path=captured.get('path') or '', path_info=captured.get('path_info') or '',
        )
    # What request processors read (netbox-branching looks for its header there on API paths): the kept headers.
    data['headers'] = HttpHeaders(data['META'])
    return NetBoxFakeRequest(data)


def _mask_json_inputs(value, secret_fields):
    """A JSON object of inputs with the secret ones masked; anything else is dropped (it may hold anything)."""
    try:
        inputs = json.loads(value)
    except (TypeError, ValueError):
        return ''
    if not isinstance(inputs, dict):
        return ''
    return json.dumps({name: SECRET_MASK if name in secret_fields else v for name, v in inputs.items()})


@contextmanager
def change_tracking(request, commit):
    """
    NetBox's change logging and event queue, for the run's request. Committed runs hand their events to NetBox's
    event pipeline after the commit (webhooks, event rules); a dry run's events are dropped.
    """
    with ExitStack() as stack:
        for processor in registry['request_processors']:
            if processor is event_tracking:
                continue
            stack.enter_context(processor(request))
        if commit:
            stack.enter_context(event_tracking(request))
            yield
            return
        tokens = (current_request.set(request), events_queue.set({}), query_cache.set(defaultdict(dict)))
        try:
            yield
        finally:
            current_request.reset(tokens[0])
            events_queue.reset(tokens[1])
            query_cache.reset(tokens[2])


def change_record(change):
    return {
        'time': change.time,
        'action': {
            'create': ChangeActionChoices.CREATE, 'update': ChangeActionChoices.UPDATE,
            'delete': ChangeActionChoices.DELETE,
        }[change.action],
        'object_type_id': change.changed_object_type_id,
        'object_id': change.changed_object_id,
        'object_repr': (change.object_repr or '')[:200],
        'prechange_data': change.prechange_data,
        'postchange_data': change.postchange_data,
    }


class ChangeWatcher:
    """
    Remembers the ObjectChanges of one request as NetBox writes them, for runs that fail: once their transaction
    is broken, the database can no longer be asked.
    """

    def __init__(self, request_id):
        self.request_id = request_id
        self.changes = {}

    def __call__(self, sender, instance, **kwargs):
        if instance.request_id == self.request_id:
            self.changes[instance.pk] = change_record(instance)

    def __enter__(self):
        post_save.connect(self, sender=ObjectChange, weak=False)
        return self

    def __exit__(self, *exc):
        post_save.disconnect(self, sender=ObjectChange)
def change_logging(user):
    """Log the changes made inside as `user`'s, unless a request (with its own user) is already being handled."""
    if current_request.get() is not None:
        return nullcontext()
    return event_tracking(NetBoxFakeRequest({
        'user': user, 'id': uuid.uuid4(), 'META': {}, 'GET': {}, 'POST': {}, 'COOKIES': {}, 'FILES': {},
        'method': 'POST', 'path': '', 'path_info': '',
    }))
