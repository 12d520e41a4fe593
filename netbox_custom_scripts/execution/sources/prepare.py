"""
Reading a module source that is not on disk (an upload, a Data Source file) and saving it. Sources are refused whole
when anything is wrong with them (name, size, encoding, import): `ValidationError`s here carry a dict naming the
input at fault - `name`, `source_code`, `file` or `data_file` - so forms and serializers can put each message on
its field. Importing a module runs its code, so nothing is imported before the user is authorised: a source is
compiled to report syntax errors, the module is saved, `authorise(module)` checks the user's object permission on it
as saved, and only then is it imported (in one transaction, rolled back when anything refuses).
"""
import ast
import logging
import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ...models import ScriptModule
from ..loader import forget
from .names import check_size, field_error
from .registry import save_source

logger = logging.getLogger('netbox_custom_scripts.sources')


@dataclass(frozen=True)
class PreparedSource:
    """A module source that passed every check short of importing it."""
    name: str
    source_code: str
    file_path: str

    @property
    def is_package(self):
        return self.file_path.endswith('__init__.py')


def _with_line(message, source_code):
    """
    Make sure a load error names its line. The loader gives none for a rejected class definition (invalid Meta)
    because it looks the class up after dropping the module; the line of the class named in the message is used.
    """
    if re.search(r'\(line \d+\)$', message):
        return message
    try:
        tree = ast.parse(source_code)
    except (SyntaxError, ValueError):
        return message
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and f'{node.name}: ' in message]
    return f'{message} (line {min(lines)})' if lines else message


def decode(data, field):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise field_error(field, _('The file is not UTF-8 text (invalid byte at position {position}).').format(
            position=exc.start
        ))
    return text.removeprefix('\ufeff')


def check_field_size(size, field):
    try:
        check_size(size)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})


def check_syntax(prepared, field='source_code'):
    """
    Compile a prepared source without running any of it, to report a syntax error against the input that supplied
    it (with its line) while a form or request is validated. Importing it would run its code: that waits until
    every permission check has passed (see `authorise` in register_upload() and replace_source()).
    """
    try:
        compile(prepared.source_code, f'<custom-scripts>/{prepared.name}.py', 'exec', dont_inherit=True)
    except SyntaxError as exc:
        raise field_error(field, _('The module cannot be loaded: Syntax error: {msg} (line {line})').format(
            msg=exc.msg, line=exc.lineno
        ))
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurdly deep nesting
        raise field_error(field, _('The module cannot be loaded: {error}').format(error=f'{type(exc).__name__}: {exc}'))


def authoriser(user, action, before=None):
    """
    An `authorise(module)` callable for register_upload() and friends: `before(module)` (saving tags, say), then
    the check that `user` holds `action` on the module as it is now saved - constraints included - before any of its
    code is imported. Raises PermissionDenied. None (no check) without a user: code of the server's own.
    """
    if user is None:
        return before

    def authorise(module):
        if before is not None:
            before(module)
        if not ScriptModule.objects.restrict(user, action).filter(pk=module.pk).exists():
            raise PermissionDenied(_('{user} has no permission to {action} the script module {name}.').format(
                user=user, action=action, name=module.name
            ))

    return authorise


def save(prepared, field, *, source, user, module, authorise=None):
    """save_source(), refusing a module that does not import; a name taken meanwhile is a name error."""
    try:
        with transaction.atomic():
            return save_source(
                prepared.name, prepared.source_code, source=source, file_path=prepared.file_path, user=user,
                reject_invalid=True, module=module, authorise=authorise,
            )
    except IntegrityError:
        forget(prepared.name)
        raise field_error('name', _('A module named {name!r} already exists.').format(name=prepared.name))
    except ValidationError as exc:
        forget(prepared.name)
        raise ValidationError({field: [_with_line(message, prepared.source_code) for message in exc.messages]})


def new_module(module, name, source):
    module = module if module is not None else ScriptModule()
    if module.pk:
        raise ValueError('A new module is expected.')
    module.name = name
    module.source = source
    return module
