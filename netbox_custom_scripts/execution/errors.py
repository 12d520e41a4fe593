"""
The core's errors, one kind per answer an adapter gives: InputError (invalid input, per field: a 400 or a form
error), Django's PermissionDenied (403), RunRefused (the request is valid but cannot be carried out now: 409),
RateLimited (429 with Retry-After). Adapters translate them in one place each: api/views/root.api_exception for the
REST API, views/errors.py for the web UI, the management command's exit codes for the CLI.
"""
from django.core.exceptions import PermissionDenied, ValidationError

__all__ = (
    'InputError',
    'PermissionDenied',
    'RateLimited',
    'RunRefused',
)


class RunRefused(Exception):
    """A run cannot start (module broken, script gone, singleton busy, ...). The message says why."""


class RateLimited(RunRefused):
    """The user reached the script's Meta.rate_limit; `retry_after` seconds until the next run is allowed."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class InputError(ValidationError):
    """Invalid inputs: `error_dict` maps variable names (or `__all__`) to messages, as a Django form reports them."""
