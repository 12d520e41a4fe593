"""
The core's errors as the web UI shows them, in one place: on a form's fields, or as messages. (The REST API maps
them in api/views/root.api_exception, the CLI in its exit codes.)
"""
from django.contrib import messages
from django.core.exceptions import ValidationError

__all__ = (
    'add_core_errors',
    'error_messages',
    'show_error',
)


def error_messages(exc):
    """The lines to show for a core error (InputError, PermissionDenied, RunRefused...), field names included."""
    if isinstance(exc, ValidationError) and hasattr(exc, 'error_dict'):
        return [
            message if name == '__all__' else f'{name}: {message}'
            for name, problems in exc.message_dict.items() for message in problems
        ]
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]


def add_core_errors(form, exc, fields=None, others=None):
    """
    Put a core error on `form`: each key on the form field `fields` maps it to (or the field of the same name), the
    rest on `others` (prefixed with their name) or on the form itself.
    """
    if not (isinstance(exc, ValidationError) and hasattr(exc, 'error_dict')):
        form.add_error(others, error_messages(exc))
        return
    fields = fields or {}
    for name, problems in exc.message_dict.items():
        field = fields.get(name, name if name in form.fields else None)
        if field is None and others is not None and name != '__all__':
            form.add_error(others, [f'{name}: {problem}' for problem in problems])
        else:
            form.add_error(field, problems)


def show_error(request, exc, level=messages.ERROR):
    """A core error (or a form's ValidationError) as one message on the next page."""
    text = '; '.join(exc.messages) if isinstance(exc, ValidationError) else str(exc) or type(exc).__name__
    messages.add_message(request, level, text)
