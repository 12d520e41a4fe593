"""
Modules from NetBox Data Source files. New code from a Data Source becomes current only when someone who may change
the module answers for it (trusted_content()); otherwise it waits, not imported, as the module's pending revision
until such a user activates it.
"""
import hashlib
import hmac
import json
import keyword
import logging
import posixpath

from core.models import DataSource
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.context import current_request

from ...choices import ModuleSourceChoices
from ...models import ModuleRevision, ScriptModule
from ...models.modules import content_hash
from .names import check_file_name, check_unused, clean_name, field_error
from .prepare import PreparedSource, check_field_size, check_syntax, decode, new_module, save
from .registry import activate_revision, may_change, record_source_error, save_source

logger = logging.getLogger('netbox_custom_scripts.sources')


def _data_file_text(data_file):
    check_field_size(data_file.size or 0, 'data_file')
    data = bytes(data_file.data or b'')
    check_field_size(len(data), 'data_file')
    return decode(data, 'data_file')


def prepare_data_file(data_file, name=None):
    """
    Check a NetBox DataFile as the source of a new module: a `.py` file whose name (or given `name`) is a module name
    not used yet, within the size limit, UTF-8. Returns a PreparedSource (file_path: the path in the data source).
    """
    if data_file is None:
        raise field_error('data_file', _('Choose a data file.'))
    errors = {}
    directory, filename = posixpath.split(data_file.path)
    try:
        stem = check_file_name(filename, 'data_file')
        if stem is None:  # pkg/__init__.py is the package `pkg`
            parent = posixpath.basename(directory)
            stem = parent if parent.isidentifier() and not keyword.iskeyword(parent) else None
    except ValidationError as exc:
        errors.update(exc.message_dict)
        stem = None
    if name is not None and (not isinstance(name, str) or name.strip()):
        try:
            name = clean_name(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    elif stem is not None:
        name = stem
    elif 'data_file' not in errors:
        errors['name'] = [_('Give the module a name.')]
    if not errors:
        try:
            source_code = _data_file_text(data_file)
            check_unused(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return PreparedSource(name, source_code, data_file.path)


def register_data_file(data_file, *, name=None, user=None, auto_sync_enabled=False, module=None, authorise=None):
    """
    Register a module whose source is a NetBox DataFile. With `auto_sync_enabled`, NetBox re-syncs the module (a new
    revision when the file changed) every time its data source is synced. Raises ValidationError({field: messages})
    and saves nothing when the file is refused; `authorise(module)` may refuse it before its code is imported.
    The user registering it vouches for the data source as it is configured now (see trust_data_source()).
    """
    prepared = prepare_data_file(data_file, name)
    check_syntax(prepared, 'data_file')
    module = new_module(module, prepared.name, ModuleSourceChoices.DATA_SOURCE)
    module.data_source = data_file.source
    module.data_file = data_file
    module.data_path = data_file.path
    module.auto_sync_enabled = auto_sync_enabled
    module.data_synced = timezone.now()
    _vouch(module, data_file)
    return save(prepared, 'data_file', source=ModuleSourceChoices.DATA_SOURCE, user=user, module=module,
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
        raise field_error('data_file', _('The data file of module {name} no longer exists.').format(name=module.name))
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
            raise field_error('pending_revision', _(
                'Module {name} no longer has that pending revision (it was activated, or newer code arrived): '
                'review it again.'
            ).format(name=module.name))
        activate_revision(module, revision)
    return module


def remember_data_source_origin(data_source):
    """Before a data source is saved: what it was, to tell afterwards whether its origin changed."""
    previous = DataSource.objects.filter(pk=data_source.pk).first() if data_source.pk else None
    data_source._custom_scripts_fingerprint = data_source_fingerprint(previous) if previous else None


def review_data_source_change(instance, created):
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
