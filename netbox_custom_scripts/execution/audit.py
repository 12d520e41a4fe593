"""Change logging outside a web request: the CLI, nbshell and worker jobs have no request for NetBox to log with."""
import uuid
from contextlib import nullcontext

from netbox.context import current_request
from netbox.context_managers import event_tracking
from utilities.request import NetBoxFakeRequest

__all__ = (
    'change_logging',
)


def change_logging(user):
    """Log the changes made inside as `user`'s, unless a request (with its own user) is already being handled."""
    if current_request.get() is not None:
        return nullcontext()
    return event_tracking(NetBoxFakeRequest({
        'user': user, 'id': uuid.uuid4(), 'META': {}, 'GET': {}, 'POST': {}, 'COOKIES': {}, 'FILES': {},
        'method': 'POST', 'path': '', 'path_info': '',
    }))
