"""
Registering script modules and keeping Script records in step with them.

Every source (an upload, a directory on disk, a Data Source file) ends in `save_source()`: a new ModuleRevision
when the content changed, an import of it, and one Script row per class. A module that fails to import keeps its
error and line number and cannot be run; nothing else is affected.
"""
import hashlib
import keyword
import logging
import os
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock

from ..choices import HealthChoices, ModuleSourceChoices, ModuleStatusChoices
from ..models import ModuleRevision, Script, ScriptModule
from ..models.modules import content_hash
from ..scripting.script import describe_variables, report_test_names, script_options, secret_variable_names
from .loader import ModuleLoadError, PendingSource, forget, import_module_source, pending_sources

__all__ = (
    'DirectorySyncResult',
    'activate_revision',
    'delete_module',
    'record_source_error',
    'save_source',
    'script_meta',
    'sync_directory',
    'validate_module_name',
)

logger = logging.getLogger('netbox_custom_scripts.modules')

# Serialises registration across processes (web workers, RQ workers, the CLI).
SYNC_LOCK_ID = 'netbox_custom_scripts.module-sync'


def plugin_settings():
    return settings.PLUGINS_CONFIG['netbox_custom_scripts']


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
    limit = plugin_settings()['max_module_size']
    if size > limit:
        raise ValidationError(
            _('Module source is {size} bytes; the limit is {limit} bytes (setting max_module_size).').format(
                size=size, limit=limit
            )
        )


def _json_safe(value):
    # A Meta value NetBox tolerates may be anything (the warning on the script says what it was).
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


def script_meta(cls):
    """The Meta options of a Script class as stored on its record (JSON-safe), as the plugin uses them."""
    options = script_options(cls)
    return {
        'commit_default': options.commit_default,
        'scheduling_enabled': options.scheduling_enabled,
        'job_timeout': options.job_timeout_seconds,
        'notifications_default': _json_safe(options.notifications_default),
        'hidden': options.hidden,
        'singleton': options.singleton,
        'queue': options.queue,
        'field_order': list(options.field_order) if options.field_order else None,
        'fieldsets': [[str(title), list(names)] for title, names in options.fieldsets] if options.fieldsets else None,
        'sensitive_variables': sorted(secret_variable_names(cls)),
        'object_types': list(options.object_types),
        'test_methods': report_test_names(cls),
        'approval_required': options.approval_required,
        'commit_requires_permission': options.commit_requires_permission,
        'run_mode': options.run_mode,
        'allowed_queues': list(options.allowed_queues),
        'max_runtime': options.max_runtime_seconds,
        'rate_limit': options.rate_limit_text,
    }


def _sync_scripts(module, loaded):
    existing = {script.class_name: script for script in module.scripts.all()}
    for weight, cls in enumerate(loaded.scripts):
        options = script_options(cls)
        values = {
            'name': options.name[:200],
            'description': options.description,
            'weight': weight,
            'is_active': True,
            'meta': script_meta(cls),
            'variables': describe_variables(cls),
            'warnings': loaded.script_warnings.get(cls.__name__, []),
        }
        script = existing.pop(cls.__name__, None)
        if script is None:
            Script(module=module, class_name=cls.__name__, **values).save()
        elif any(getattr(script, key) != value for key, value in values.items()):
            script.snapshot()
            for key, value in values.items():
                setattr(script, key, value)
            script.save()
    for script in existing.values():
        if script.is_active:
            script.snapshot()
            script.is_active = False
            script.save()


def _set_module_state(module, status, error='', line=None, display_name=None, warnings=()):
    module.status = status
    module.error = error
    module.error_line = line
    module.warnings = list(warnings)
    if display_name is not None:
        module.display_name = display_name[:200]


def record_source_error(module, message):
    """A module whose new source could not even be read: it keeps its revision but cannot run until fixed."""
    with transaction.atomic():
        module.snapshot()
        _set_module_state(module, ModuleStatusChoices.ERROR, message)
        module.save()


def save_source(name, source_code, *, source, file_path, user=None, reject_invalid=False, module=None,
                force_reload=False, authorise=None):
    """
    Register `source_code` as the current revision of module `name`, creating the module if needed. Returns the
    ScriptModule. With `reject_invalid`, a module that does not import raises ValidationError and nothing is saved
    (uploads); otherwise the module is saved with its error (files that are already in place). `authorise(module)`
    is called with the module saved (a new one without code yet) before any of the new code is imported: it raises
    to refuse, and the transaction is rolled back.
    """
    validate_module_name(name)
    if not isinstance(source_code, str):
        raise ValidationError(_('Module source must be text.'))
    check_size(len(source_code.encode('utf-8')))
    digest = content_hash(source_code)

    with transaction.atomic():
        if module is None:
            module = ScriptModule.objects.filter(name=name).select_related('current_revision').first()
        if module is None:
            module = ScriptModule(name=name, source=source, file_path=file_path)
        elif module.source != source:
            raise ValidationError(
                _('A module named {name!r} already comes from {source}.').format(
                    name=name, source=module.get_source_display()
                )
            )
        unchanged = module.pk and module.current_revision and module.current_revision.content_hash == digest
        if unchanged and not force_reload and module.status != ModuleStatusChoices.MISSING:
            return module

        module.file_path = file_path
        if authorise is not None:
            if not module.pk:
                _set_module_state(module, ModuleStatusChoices.ERROR, _('Not loaded yet.'))
                module.save()
            authorise(module)
        try:
            loaded = import_module_source(
                name, source_code, digest,
                is_package=file_path.endswith('__init__.py'),
                data_root=module.data_root,
                module_dir=module.module_dir,
            )
        except ModuleLoadError as exc:
            if reject_invalid:
                raise ValidationError(_('The module cannot be loaded: {error}').format(error=exc))
            loaded = None
            _set_module_state(module, ModuleStatusChoices.ERROR, exc.message, exc.line)
        else:
            _set_module_state(module, ModuleStatusChoices.OK, display_name=loaded.display_name,
                              warnings=loaded.warnings)

        if module.pk:
            module.snapshot()
        module.save()
        if not unchanged:
            number = (module.revisions.order_by('-number').values_list('number', flat=True).first() or 0) + 1
            module.current_revision = ModuleRevision.objects.create(
                module=module, number=number, content_hash=digest, source_code=source_code, created_by=user
            )
            module.save()
            # Test results were for the code that was replaced.
            module.scripts.update(health=HealthChoices.UNKNOWN, health_checked=None)
        if loaded is not None:
            _sync_scripts(module, loaded)
    return module


def activate_revision(module, revision):
    """
    Make an existing revision of `module` (a pending one, say) its current code: import it, record whether it
    loads, and bring the module's scripts in step. The caller holds the module's row lock.
    """
    module.snapshot()
    try:
        loaded = import_module_source(
            module.name, revision.source_code, revision.content_hash,
            is_package=module.file_path.endswith('__init__.py'), data_root=module.data_root,
            module_dir=module.module_dir,
        )
    except ModuleLoadError as exc:
        loaded = None
        _set_module_state(module, ModuleStatusChoices.ERROR, exc.message, exc.line)
    else:
        _set_module_state(module, ModuleStatusChoices.OK, display_name=loaded.display_name, warnings=loaded.warnings)
    module.current_revision = revision
    if module.pending_revision_id == revision.pk:
        module.pending_revision = None
    module.save()
    module.scripts.update(health=HealthChoices.UNKNOWN, health_checked=None)
    if loaded is not None:
        _sync_scripts(module, loaded)
    return module


def delete_module(module):
    name = module.name
    module.delete()
    forget(name)


@dataclass
class DirectorySyncResult:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)  # module name (or file) -> error

    @property
    def changed(self):
        return bool(self.created or self.updated or self.missing)


def _directory_files(root):
    """(module name, relative path, absolute path) of every .py file below root; hidden and cache dirs skipped."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.') and d != '__pycache__')
        for filename in sorted(filenames):
            if not filename.endswith('.py') or filename.startswith('.'):
                continue
            path = os.path.join(dirpath, filename)
            relative = os.path.relpath(path, root)
            parts = relative[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            if parts:
                yield '.'.join(parts), relative, path


def directory_fingerprint(root):
    """A cheap (stat-only) fingerprint of the directory; it changes when any module file changes."""
    digest = hashlib.sha256()
    for _name, relative, path in _directory_files(root):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        digest.update(f'{relative}\0{stat.st_mtime_ns}\0{stat.st_size}\n'.encode())
    return digest.hexdigest()


_last_fingerprint = {}


def sync_directory(root=None, user=None, force=False):
    """
    Bring the directory-sourced modules in step with the files below `root` (the `scripts_dir` setting). Cheap
    when nothing changed (a stat of each file). Returns a DirectorySyncResult, or None when nothing was checked.
    """
    root = root or plugin_settings()['scripts_dir']
    if not root:
        return None
    root = os.path.realpath(root)
    fingerprint = directory_fingerprint(root)
    if not force and _last_fingerprint.get(root) == fingerprint:
        return None

    result = DirectorySyncResult()
    with advisory_lock(SYNC_LOCK_ID):
        existing = {
            module.name: module
            for module in ScriptModule.objects.filter(source=ModuleSourceChoices.DIRECTORY).select_related(
                'current_revision'
            )
        }
        files = {}
        for name, relative, path in _directory_files(root):
            try:
                validate_module_name(name)
                check_size(os.path.getsize(path))
                with open(path, encoding='utf-8') as f:
                    files[name] = (relative, f.read())
            except (ValidationError, OSError, UnicodeDecodeError) as exc:
                message = '; '.join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                result.errors[relative] = message
                logger.warning('Script file %s skipped: %s', relative, message)

        # Any change re-imports every module of the directory: a changed helper changes the modules importing it.
        changed = set(files) ^ set(existing) or any(
            existing[name].file_path != relative or not existing[name].current_revision
            or existing[name].current_revision.content_hash != content_hash(text)
            for name, (relative, text) in files.items() if name in existing
        ) or force
        if changed:
            pending = {
                name: PendingSource(text, content_hash(text), relative.endswith('__init__.py'))
                for name, (relative, text) in files.items()
            }
            with pending_sources(pending):
                _register_files(files, existing, user, result)
            for name, module in existing.items():
                if name not in files and module.status != ModuleStatusChoices.MISSING:
                    with transaction.atomic():
                        module.snapshot()
                        _set_module_state(module, ModuleStatusChoices.MISSING, _('The file no longer exists.'))
                        module.save()
                        for script in module.scripts.filter(is_active=True):
                            script.snapshot()
                            script.is_active = False
                            script.save()
                    forget(name)
                    result.missing.append(name)
    _last_fingerprint[root] = fingerprint
    return result


def _register_files(files, existing, user, result):
    for name in sorted(files):
        relative, text = files[name]
        before = existing.get(name)
        previous_hash = before.content_hash if before else None
        try:
            module = save_source(
                name, text, source=ModuleSourceChoices.DIRECTORY, file_path=relative, user=user,
                module=before, force_reload=True,
            )
        except ValidationError as exc:
            result.errors[name] = '; '.join(exc.messages)
            continue
        if before is None:
            result.created.append(name)
        elif module.content_hash != previous_hash:
            result.updated.append(name)
        if module.status == ModuleStatusChoices.ERROR:
            result.errors[name] = module.error
