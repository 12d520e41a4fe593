"""Module names and file names: dotted Python identifiers only, so no separators, traversal or odd characters."""
import keyword
import logging
import posixpath

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ...models import ScriptModule
from .storage import STORAGE_PREFIX

logger = logging.getLogger('netbox_custom_scripts.sources')


def validate_module_name(name):
    """A dotted module path: Python identifiers only, so no separators, traversal or odd characters."""
    parts = name.split('.') if isinstance(name, str) else []
    # Dunder parts (`pkg.__init__`) would name another module's file, or Python's own special modules.
    if not parts or not all(
        part.isidentifier() and not keyword.iskeyword(part) and not (part.startswith('__') and part.endswith('__'))
        for part in parts
    ):
        raise ValidationError(
            _('Invalid module name {name!r}: use Python identifiers separated by dots (e.g. "branches.access").')
            .format(name=name)
        )
    if len(name) > 200:
        raise ValidationError(_('Module name is longer than 200 characters.'))


def check_size(size):
    limit = get_plugin_config('netbox_custom_scripts', 'max_module_size')
    if size > limit:
        raise ValidationError(
            _('Module source is {size} bytes; the limit is {limit} bytes (setting max_module_size).').format(
                size=size, limit=limit
            )
        )


def clean_name(name, field='name'):
    """An explicitly given module name: a dotted path of identifiers, without a `.py` suffix."""
    name = name.strip() if isinstance(name, str) else name
    if isinstance(name, str) and 'py' in name.split('.')[1:]:
        # "x.py" or "x.py.exe" is a file name: a module path has no "py" part after the first.
        raise field_error(field, _('Invalid module name {name!r}: give the module name without ".py".').format(
            name=name
        ))
    try:
        validate_module_name(name)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})
    return name


def check_file_name(filename, field):
    """
    The name of an uploaded or synced file: a plain `<identifier>.py` (or `__init__.py`) without any directory part.
    Returns the module name it implies, or None for `__init__.py` (a package: its name must be given).
    """
    if not isinstance(filename, str) or not filename:
        raise field_error(field, _('The file has no name.'))
    if '/' in filename or '\\' in filename or '\0' in filename or filename.startswith('.'):
        raise field_error(field, _('Invalid file name {name!r}: give a plain file name, without directories.').format(
            name=filename
        ))
    if not filename.endswith('.py') or filename == '.py':
        raise field_error(field, _(
            'Invalid file name {name!r}: a script module is a Python file ending in ".py".'
        ).format(name=filename))
    stem = filename[:-3]
    if stem == '__init__':
        return None
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise field_error(field, _(
            'The file name {name!r} is not a Python module name: rename the file or give the module name.'
        ).format(name=filename))
    return stem


def check_unused(name):
    """No module (from any source) has this name yet."""
    other = ScriptModule.objects.filter(name=name).first()
    if other is not None:
        raise field_error('name', _('A module named {name!r} already exists (source: {source}).').format(
            name=name, source=other.get_source_display()
        ))


def upload_path(name, is_package=False):
    """Where an uploaded module is kept in the `scripts` storage: `custom_scripts/a/b.py` for module `a.b`."""
    parts = name.split('.')
    if is_package:
        parts.append('__init__')
    return posixpath.join(STORAGE_PREFIX, *parts) + '.py'


def field_error(field, message):
    return ValidationError({field: [message]})
