"""Uploads (web form, REST API, Python): a new module, or new code for an uploaded one."""
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ...choices import ModuleSourceChoices
from ...models import ScriptModule
from .names import check_file_name, check_unused, clean_name, field_error, upload_path
from .prepare import PreparedSource, check_field_size, check_syntax, decode, new_module, save
from .storage import store_on_commit

logger = logging.getLogger('netbox_custom_scripts.sources')


def _read_upload(file):
    """The text of an uploaded file. Its declared size is checked before anything is read, and no more than the
    size limit (plus one byte) is ever read, whatever the file claims."""
    size = getattr(file, 'size', None)
    if size is not None:
        check_field_size(size, 'file')
    limit = get_plugin_config('netbox_custom_scripts', 'max_module_size')
    if hasattr(file, 'seek'):
        file.seek(0)
    data = file.read(limit + 1)
    if isinstance(data, str):
        data = data.encode('utf-8')
    check_field_size(len(data), 'file')
    return decode(data, 'file')


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
        raise field_error('source_code', _('Give the source either as text or as a file, not both.'))
    if source_code is None and file is None:
        raise field_error('source_code', _('Give the module source as text or upload it as a file.'))

    errors = {}
    file_stem = is_package = None
    if file is not None:
        try:
            file_stem = check_file_name(getattr(file, 'name', None), 'file')
            is_package = file_stem is None
        except ValidationError as exc:
            errors.update(exc.message_dict)

    if module is not None:
        name = module.name
        is_package = module.file_path.endswith('__init__.py')
    elif _given(name):
        try:
            name = clean_name(name)
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
                check_unused(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    file_path = module.file_path if module is not None else upload_path(name, bool(is_package))
    return PreparedSource(name, source_code, file_path)


def _text_source(source_code):
    if not isinstance(source_code, str):
        raise field_error('source_code', _('Module source must be text.'))
    try:
        encoded = source_code.encode('utf-8')
    except UnicodeEncodeError:
        raise field_error('source_code', _('Module source must be valid Unicode text.'))
    check_field_size(len(encoded), 'source_code')
    return source_code.removeprefix('\ufeff')


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
    module = save(
        prepared, field, source=ModuleSourceChoices.UPLOAD, user=user,
        module=new_module(module, prepared.name, ModuleSourceChoices.UPLOAD), authorise=authorise,
    )
    store_on_commit(prepared.file_path, prepared.source_code)
    return module


def check_replaceable(module, field='source_code'):
    """Only an uploaded module's source is replaced through the plugin; the others follow their file."""
    if module.source != ModuleSourceChoices.UPLOAD:
        where = _('its data file') if module.source == ModuleSourceChoices.DATA_SOURCE else _('its file on disk')
        raise field_error(field, _('Module {name} comes from {source}: change {where} instead.').format(
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
        saved = save(prepared, field, source=ModuleSourceChoices.UPLOAD, user=user, module=current,
                      authorise=authorise)
        changed = saved.current_revision_id != previous
    if changed:
        store_on_commit(prepared.file_path, prepared.source_code)
    # The caller's instance follows, without losing attributes it may not have saved yet.
    for attr in ('current_revision', 'status', 'error', 'error_line', 'display_name', 'file_path', 'last_updated'):
        setattr(module, attr, getattr(saved, attr))
    return changed
