"""
Module sources other than the scripts directory: uploads (web form, REST API, Python) and NetBox Data Source files.

Every source ends in `modules.save_source()`, so an uploaded or synced module gets numbered revisions with their
content hash exactly like a directory module. Uploads and new data-source modules are refused whole when anything is
wrong with them (name, size, encoding, import): `ValidationError`s here carry a dict naming the input at fault -
`name`, `source_code`, `file` or `data_file` - so forms and serializers can put each message on its field.

Importing a module runs its code, so nothing is imported before the user is authorised: a source is compiled to
report syntax errors, the module is saved, `authorise(module)` checks the user's object permission on it as saved,
and only then is it imported (in one transaction, rolled back when anything refuses). New code from a Data Source
becomes current only when someone who may change the module answers for it (trusted_content()); otherwise it waits,
not imported, as the module's pending revision until such a user activates it.

Uploaded source is kept twice: in the ModuleRevision (what workers execute) and, for people and tools that expect
files, in NetBox's `scripts` storage backend under `custom_scripts/`. The file is written, replaced or deleted only
when the database transaction commits, so a refused or rolled back upload leaves no file behind.
"""
import ast
import hashlib
import hmac
import json
import keyword
import logging
import posixpath
import re
from dataclasses import dataclass

from core.models import DataSource
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.context import current_request

from ..choices import ModuleSourceChoices
from ..models import ModuleRevision, ScriptModule
from ..models.modules import content_hash
from .loader import forget
from .modules import (
    activate_revision,
    check_size,
    plugin_settings,
    record_source_error,
    save_source,
    validate_module_name,
)

__all__ = (
    'STORAGE_PREFIX',
    'PreparedSource',
    'activate_pending_revision',
    'authoriser',
    'data_source_fingerprint',
    'may_change',
    'check_syntax',
    'check_replaceable',
    'prepare_data_file',
    'prepare_upload',
    'register_data_file',
    'register_upload',
    'replace_source',
    'stage_revision',
    'sync_from_data_file',
    'trusted_content',
    'upload_path',
)

logger = logging.getLogger('netbox_custom_scripts.sources')

# Folder of the `scripts` storage backend that holds uploaded modules.
STORAGE_PREFIX = 'custom_scripts'


@dataclass(frozen=True)
class PreparedSource:
    """A module source that passed every check short of importing it."""
    name: str
    source_code: str
    file_path: str

    @property
    def is_package(self):
        return self.file_path.endswith('__init__.py')


def _error(field, message):
    return ValidationError({field: [message]})


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


#
# Names
#

def _clean_name(name, field='name'):
    """An explicitly given module name: a dotted path of identifiers, without a `.py` suffix."""
    name = name.strip() if isinstance(name, str) else name
    if isinstance(name, str) and 'py' in name.split('.')[1:]:
        # "x.py" or "x.py.exe" is a file name: a module path has no "py" part after the first.
        raise _error(field, _('Invalid module name {name!r}: give the module name without ".py".').format(name=name))
    try:
        validate_module_name(name)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})
    return name


def _check_file_name(filename, field):
    """
    The name of an uploaded or synced file: a plain `<identifier>.py` (or `__init__.py`) without any directory part.
    Returns the module name it implies, or None for `__init__.py` (a package: its name must be given).
    """
    if not isinstance(filename, str) or not filename:
        raise _error(field, _('The file has no name.'))
    if '/' in filename or '\\' in filename or '\0' in filename or filename.startswith('.'):
        raise _error(field, _('Invalid file name {name!r}: give a plain file name, without directories.').format(
            name=filename
        ))
    if not filename.endswith('.py') or filename == '.py':
        raise _error(field, _('Invalid file name {name!r}: a script module is a Python file ending in ".py".').format(
            name=filename
        ))
    stem = filename[:-3]
    if stem == '__init__':
        return None
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise _error(field, _(
            'The file name {name!r} is not a Python module name: rename the file or give the module name.'
        ).format(name=filename))
    return stem


def _check_unused(name):
    """No module (from any source) has this name yet."""
    other = ScriptModule.objects.filter(name=name).first()
    if other is not None:
        raise _error('name', _('A module named {name!r} already exists (source: {source}).').format(
            name=name, source=other.get_source_display()
        ))


def upload_path(name, is_package=False):
    """Where an uploaded module is kept in the `scripts` storage: `custom_scripts/a/b.py` for module `a.b`."""
    parts = name.split('.')
    if is_package:
        parts.append('__init__')
    return posixpath.join(STORAGE_PREFIX, *parts) + '.py'


#
# Reading sources
#

def _decode(data, field):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise _error(field, _('The file is not UTF-8 text (invalid byte at position {position}).').format(
            position=exc.start
        ))
    return text.removeprefix('\ufeff')


def _check_size(size, field):
    try:
        check_size(size)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})


def _read_upload(file):
    """The text of an uploaded file. Its declared size is checked before anything is read, and no more than the
    size limit (plus one byte) is ever read, whatever the file claims."""
    size = getattr(file, 'size', None)
    if size is not None:
        _check_size(size, 'file')
    limit = plugin_settings()['max_module_size']
    if hasattr(file, 'seek'):
        file.seek(0)
    data = file.read(limit + 1)
    if isinstance(data, str):
        data = data.encode('utf-8')
    _check_size(len(data), 'file')
    return _decode(data, 'file')


def _given(value):
    return value is not None and not (isinstance(value, str) and not value.strip())


def prepare_upload(name=None, source_code=None, file=None, *, module=None):
    """
    Check an upload without importing it: exactly one of `source_code` (text) and `file` (an uploaded file), a valid
    module name (given, or taken from the file name), the size limit, UTF-8. With `module` (an existing upload
    being replaced) the name is the module's own. Returns a PreparedSource or raises ValidationError({field: ...}).
    """
    if source_code == '':
        source_code = None
    if source_code is not None and file is not None:
        raise _error('source_code', _('Give the source either as text or as a file, not both.'))
    if source_code is None and file is None:
        raise _error('source_code', _('Give the module source as text or upload it as a file.'))

    errors = {}
    file_stem = is_package = None
    if file is not None:
        try:
            file_stem = _check_file_name(getattr(file, 'name', None), 'file')
            is_package = file_stem is None
        except ValidationError as exc:
            errors.update(exc.message_dict)

    if module is not None:
        name = module.name
        is_package = module.file_path.endswith('__init__.py')
    elif _given(name):
        try:
            name = _clean_name(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    elif file is None:
        errors['name'] = [_('Give the module a name.')]
    elif file_stem is not None:
        name = file_stem
    elif 'file' not in errors:
        errors['name'] = [_('A package (__init__.py) needs a module name, e.g. "branches".')]

    if not errors:
        try:
            source_code = _read_upload(file) if file is not None else _text_source(source_code)
            if module is None:
                _check_unused(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    file_path = module.file_path if module is not None else upload_path(name, bool(is_package))
    return PreparedSource(name, source_code, file_path)


def _text_source(source_code):
    if not isinstance(source_code, str):
        raise _error('source_code', _('Module source must be text.'))
    try:
        encoded = source_code.encode('utf-8')
    except UnicodeEncodeError:
        raise _error('source_code', _('Module source must be valid Unicode text.'))
    _check_size(len(encoded), 'source_code')
    return source_code.removeprefix('\ufeff')


def _data_file_text(data_file):
    _check_size(data_file.size or 0, 'data_file')
    data = bytes(data_file.data or b'')
    _check_size(len(data), 'data_file')
    return _decode(data, 'data_file')


def prepare_data_file(data_file, name=None):
    """
    Check a NetBox DataFile as the source of a new module: a `.py` file whose name (or given `name`) is a module name
    not used yet, within the size limit, UTF-8. Returns a PreparedSource (file_path: the path in the data source).
    """
    if data_file is None:
        raise _error('data_file', _('Choose a data file.'))
    errors = {}
    directory, filename = posixpath.split(data_file.path)
    try:
        stem = _check_file_name(filename, 'data_file')
        if stem is None:  # pkg/__init__.py is the package `pkg`
            parent = posixpath.basename(directory)
            stem = parent if parent.isidentifier() and not keyword.iskeyword(parent) else None
    except ValidationError as exc:
        errors.update(exc.message_dict)
        stem = None
    if name is not None and (not isinstance(name, str) or name.strip()):
        try:
            name = _clean_name(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    elif stem is not None:
        name = stem
    elif 'data_file' not in errors:
        errors['name'] = [_('Give the module a name.')]
    if not errors:
        try:
            source_code = _data_file_text(data_file)
            _check_unused(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return PreparedSource(name, source_code, data_file.path)


def check_syntax(prepared, field='source_code'):
    """
    Compile a prepared source without running any of it, to report a syntax error against the input that supplied
    it (with its line) while a form or request is validated. Importing it would run its code: that waits until
    every permission check has passed (see `authorise` in register_upload() and replace_source()).
    """
    try:
        compile(prepared.source_code, f'<custom-scripts>/{prepared.name}.py', 'exec', dont_inherit=True)
    except SyntaxError as exc:
        raise _error(field, _('The module cannot be loaded: Syntax error: {msg} (line {line})').format(
            msg=exc.msg, line=exc.lineno
        ))
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurdly deep nesting
        raise _error(field, _('The module cannot be loaded: {error}').format(error=f'{type(exc).__name__}: {exc}'))


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


#
# Registering
#

def _save(prepared, field, *, source, user, module, authorise=None):
    """save_source(), refusing a module that does not import; a name taken meanwhile is a name error."""
    try:
        with transaction.atomic():
            return save_source(
                prepared.name, prepared.source_code, source=source, file_path=prepared.file_path, user=user,
                reject_invalid=True, module=module, authorise=authorise,
            )
    except IntegrityError:
        forget(prepared.name)
        raise _error('name', _('A module named {name!r} already exists.').format(name=prepared.name))
    except ValidationError as exc:
        forget(prepared.name)
        raise ValidationError({field: [_with_line(message, prepared.source_code) for message in exc.messages]})


def _new_module(module, name, source):
    module = module if module is not None else ScriptModule()
    if module.pk:
        raise ValueError('A new module is expected.')
    module.name = name
    module.source = source
    return module


def register_upload(name=None, source_code=None, *, file=None, user=None, module=None, authorise=None):
    """
    Register an uploaded module: `source_code` (text) or `file` (an uploaded file; the module name defaults to its
    name without `.py`). `module` may be an unsaved ScriptModule carrying other attributes (description, custom
    field data). Returns the saved module with its first revision; the file is written to the `scripts` storage when
    the transaction commits. Raises ValidationError({field: messages}) and saves nothing when the upload is refused;
    `authorise(module)` (see authoriser()) may refuse it before its code is imported.
    """
    prepared = prepare_upload(name, source_code, file)
    field = 'file' if file is not None else 'source_code'
    check_syntax(prepared, field)
    module = _save(
        prepared, field, source=ModuleSourceChoices.UPLOAD, user=user,
        module=_new_module(module, prepared.name, ModuleSourceChoices.UPLOAD), authorise=authorise,
    )
    _store_on_commit(prepared.file_path, prepared.source_code)
    return module


def check_replaceable(module, field='source_code'):
    """Only an uploaded module's source is replaced through the plugin; the others follow their file."""
    if module.source != ModuleSourceChoices.UPLOAD:
        where = _('its data file') if module.source == ModuleSourceChoices.DATA_SOURCE else _('its file on disk')
        raise _error(field, _('Module {name} comes from {source}: change {where} instead.').format(
            name=module.name, source=module.get_source_display().lower(), where=where
        ))


def replace_source(module, source_code=None, *, file=None, user=None, authorise=None):
    """
    Replace the source of an uploaded module. A changed source becomes revision N+1 and its Script records are
    re-synced; an unchanged one changes nothing. Returns True when a new revision was created. Raises
    ValidationError({field: messages}), changing nothing, when the new source is refused; `authorise(module)`
    may refuse it before the new code is imported.
    """
    check_replaceable(module, 'source_code' if file is None else 'file')
    prepared = prepare_upload(source_code=source_code, file=file, module=module)
    field = 'file' if file is not None else 'source_code'
    check_syntax(prepared, field)
    with transaction.atomic():
        # One editor at a time: the next revision number is taken from the locked module.
        current = ScriptModule.objects.select_for_update(of=('self',)).select_related('current_revision').get(
            pk=module.pk
        )
        previous = current.current_revision_id
        saved = _save(prepared, field, source=ModuleSourceChoices.UPLOAD, user=user, module=current,
                      authorise=authorise)
        changed = saved.current_revision_id != previous
    if changed:
        _store_on_commit(prepared.file_path, prepared.source_code)
    # The caller's instance follows, without losing attributes it may not have saved yet.
    for attr in ('current_revision', 'status', 'error', 'error_line', 'display_name', 'file_path', 'last_updated'):
        setattr(module, attr, getattr(saved, attr))
    return changed


def register_data_file(data_file, *, name=None, user=None, auto_sync_enabled=False, module=None, authorise=None):
    """
    Register a module whose source is a NetBox DataFile. With `auto_sync_enabled`, NetBox re-syncs the module (a new
    revision when the file changed) every time its data source is synced. Raises ValidationError({field: messages})
    and saves nothing when the file is refused; `authorise(module)` may refuse it before its code is imported.
    The user registering it vouches for the data source as it is configured now (see trust_data_source()).
    """
    prepared = prepare_data_file(data_file, name)
    check_syntax(prepared, 'data_file')
    module = _new_module(module, prepared.name, ModuleSourceChoices.DATA_SOURCE)
    module.data_source = data_file.source
    module.data_file = data_file
    module.data_path = data_file.path
    module.auto_sync_enabled = auto_sync_enabled
    module.data_synced = timezone.now()
    _vouch(module, data_file)
    return _save(prepared, 'data_file', source=ModuleSourceChoices.DATA_SOURCE, user=user, module=module,
                 authorise=authorise)


def sync_from_data_file(module):
    """
    Register the current content of a data-source module's DataFile as its current revision (NetBox calls this
    through ScriptModule.sync_data() when the module is synced, or auto-synced after its data source was). Like a
    directory file, a synced file that does not import is recorded with its error and line; a file that is too large
    or not UTF-8 is refused and the module keeps its current revision.

    New code becomes current (and is imported) only when someone who may change the module answers for it: the
    user syncing it holds `change` on it, or the file was fetched under a data source configuration such a user
    vouched for (trusted_content()). Otherwise it is staged as the module's pending revision, not imported, until
    such a user activates it: a user who may only edit or sync a data source cannot make new code run.

    On a module not saved yet (model validation of a new instance) this only checks the file, saving nothing.
    """
    data_file = module.data_file or module.resolve_data_file()
    if data_file is None:
        raise _error('data_file', _('The data file of module {name} no longer exists.').format(name=module.name))
    if not module.pk:
        source_code = _data_file_text(data_file)
        check_syntax(PreparedSource(module.name, source_code, data_file.path), 'data_file')
        return
    try:
        source_code = _data_file_text(data_file)
    except ValidationError as exc:
        # Recorded on the module, as an import error would be (NetBox's sync views have no answer but a 500 for an
        # exception here): it cannot run until its file is fixed.
        record_source_error(module, '; '.join(exc.messages))
        return
    digest = content_hash(source_code)
    if module.current_revision is not None and module.current_revision.content_hash == digest:
        if module.pending_revision_id:
            module.snapshot()
            module.pending_revision = None  # the file went back to the code that runs
            module.save()
        return
    if not trusted_content(module, data_file, _request_user()):
        stage_revision(module, source_code, digest)
        return
    module.pending_revision = None
    save_source(
        module.name, source_code, source=ModuleSourceChoices.DATA_SOURCE, file_path=data_file.path, module=module,
    )


def _request_user():
    """The user of the web or API request being handled (None in a worker, nbshell or a management command)."""
    request = current_request.get()
    user = getattr(request, 'user', None)
    return user if user is not None and user.is_authenticated and user.is_active else None


def may_change(module, user):
    return user is not None and ScriptModule.objects.restrict(user, 'change').filter(pk=module.pk).exists()


def data_source_fingerprint(data_source):
    """
    A keyed hash of what decides where a data source's files come from: its type, URL and parameters. (Migration
    0002 computes the same for the modules it trusts on upgrade: keep the two in step.)
    """
    if data_source is None:
        return ''
    payload = json.dumps(
        {'type': data_source.type, 'url': data_source.source_url, 'parameters': data_source.parameters or {}},
        sort_keys=True, default=str,
    )
    key = hashlib.sha256(b'netbox-custom-scripts:data-source:' + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _vouch(module, data_file=None):
    """Someone who may change the module trusts its data source as configured now, for files fetched from now on
    (or, when they picked the file themselves, for that file as it is)."""
    module.source_trust = data_source_fingerprint(module.data_source)
    module.source_trusted_since = data_file.last_updated if data_file is not None else timezone.now()


def trusted_content(module, data_file, user=None):
    """
    Whether the DataFile's content may become the module's code without review: `user` (who is syncing it) may
    change the module, or the file was fetched after someone who may change it vouched for the data source's
    current configuration, and nobody else has changed that configuration since.
    """
    if may_change(module, user):
        return True
    return bool(
        module.source_trust
        and module.source_trusted_since is not None
        and hmac.compare_digest(module.source_trust, data_source_fingerprint(data_file.source))
        and data_file.last_updated >= module.source_trusted_since
    )


def stage_revision(module, source_code, digest):
    """Keep new code from the data source as the module's pending revision, without importing it."""
    pending = module.pending_revision
    if pending is not None and pending.content_hash == digest:
        return pending
    number = (module.revisions.order_by('-number').values_list('number', flat=True).first() or 0) + 1
    with transaction.atomic():
        revision = ModuleRevision.objects.create(
            module=module, number=number, content_hash=digest, source_code=source_code, created_by=None,
        )
        module.snapshot()
        module.pending_revision = revision
        module.save()
    logger.warning(
        'Module %s: new code from data source %s is pending as revision %s; someone who may change the module '
        'must activate it', module.name, module.data_source, number,
    )
    return revision


def activate_pending_revision(module, user, revision_id):
    """
    Make the pending revision `revision_id` the module's code, as `user` (who must hold `change` on the module): it
    is imported now, for the first time, and the module's scripts follow it. A revision that does not import makes
    the module show its error, as a synced file that does not import does. Returns the module. Raises
    PermissionDenied, or ValidationError({'pending_revision': ...}) when that revision is no longer the pending one
    (newer code arrived after the user reviewed it).
    """
    with transaction.atomic():
        module = ScriptModule.objects.select_for_update(of=('self',)).select_related(
            'pending_revision', 'current_revision',
        ).get(pk=module.pk)
        if not may_change(module, user):
            raise PermissionDenied(_('{user} has no permission to change the script module {name}.').format(
                user=user, name=module.name
            ))
        revision = module.pending_revision
        if revision is None or revision.pk != revision_id:
            raise _error('pending_revision', _(
                'Module {name} no longer has that pending revision (it was activated, or newer code arrived): '
                'review it again.'
            ).format(name=module.name))
        activate_revision(module, revision)
    return module


#
# The copy in the scripts storage
#

def _storage():
    return storages['scripts']


def _store_on_commit(path, source_code):
    def store():
        storage = _storage()
        try:
            if storage.exists(path):
                storage.delete(path)
            saved = storage.save(path, ContentFile(source_code.encode('utf-8')))
        except Exception:
            # The database copy is the one that runs; a storage failure must not lose the committed upload.
            logger.exception('Could not write uploaded module file %s to the scripts storage', path)
            return
        if saved != path:
            logger.warning('Uploaded module file stored as %s instead of %s', saved, path)

    transaction.on_commit(store)


def _delete_on_commit(path):
    def delete():
        try:
            _storage().delete(path)
        except FileNotFoundError:
            pass
        except Exception:
            logger.exception('Could not delete uploaded module file %s from the scripts storage', path)

    transaction.on_commit(delete)


@receiver(post_delete, sender=ScriptModule, dispatch_uid='netbox_custom_scripts.sources.module_deleted')
def module_deleted(sender, instance, **kwargs):
    """A deleted module is dropped from this process's import cache, and an upload's file from the storage."""
    forget(instance.name)
    if instance.source == ModuleSourceChoices.UPLOAD and instance.file_path.startswith(STORAGE_PREFIX + '/'):
        _delete_on_commit(instance.file_path)


#
# Who vouches for a data source
#

@receiver(pre_save, sender=DataSource, dispatch_uid='netbox_custom_scripts.sources.data_source_saving')
def remember_data_source_origin(sender, instance, **kwargs):
    previous = DataSource.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._custom_scripts_fingerprint = data_source_fingerprint(previous) if previous else None


@receiver(post_save, sender=DataSource, dispatch_uid='netbox_custom_scripts.sources.data_source_saved')
def data_source_saved(sender, instance, created, **kwargs):
    """
    A data source whose type, URL or parameters changed is trusted by the modules using it only if the user who
    changed it may change those modules: anyone else's change leaves their new code pending until it is activated.
    """
    previous = getattr(instance, '_custom_scripts_fingerprint', None)
    current = data_source_fingerprint(instance)
    if created or previous is None or previous == current:
        return
    user = _request_user()
    for module in ScriptModule.objects.filter(data_source=instance):
        if may_change(module, user):
            trust, since = current, timezone.now()
        else:
            trust, since = '', None
        ScriptModule.objects.filter(pk=module.pk).update(source_trust=trust, source_trusted_since=since)
