"""
Registering script modules and keeping Script records in step with them.

Every source (an upload, a directory on disk, a Data Source file) ends in `save_source()`: a new ModuleRevision
when the content changed, an import of it, and one Script row per class. A module that fails to import keeps its
error and line number and cannot be run; nothing else is affected.
"""
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ...choices import HealthChoices, ModuleStatusChoices
from ...models import ModuleRevision, Script, ScriptModule
from ...models.modules import content_hash
from ...scripting.meta import describe_variables, script_options, secret_variable_names
from ...scripting.script import report_test_names
from ..loader import ModuleLoadError, import_module_source
from .names import check_size, validate_module_name

logger = logging.getLogger('netbox_custom_scripts.sources')


# Serialises registration across processes (web workers, RQ workers, the CLI).
SYNC_LOCK_ID = 'netbox_custom_scripts.module-sync'


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


def set_module_state(module, status, error='', line=None, display_name=None, warnings=()):
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
        set_module_state(module, ModuleStatusChoices.ERROR, message)
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
                set_module_state(module, ModuleStatusChoices.ERROR, _('Not loaded yet.'))
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
            set_module_state(module, ModuleStatusChoices.ERROR, exc.message, exc.line)
        else:
            set_module_state(module, ModuleStatusChoices.OK, display_name=loaded.display_name,
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
        set_module_state(module, ModuleStatusChoices.ERROR, exc.message, exc.line)
    else:
        set_module_state(module, ModuleStatusChoices.OK, display_name=loaded.display_name, warnings=loaded.warnings)
    module.current_revision = revision
    if module.pending_revision_id == revision.pk:
        module.pending_revision = None
    module.save()
    module.scripts.update(health=HealthChoices.UNKNOWN, health_checked=None)
    if loaded is not None:
        _sync_scripts(module, loaded)
    return module


def may_change(module, user):
    return user is not None and ScriptModule.objects.restrict(user, 'change').filter(pk=module.pk).exists()
