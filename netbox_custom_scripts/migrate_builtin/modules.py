"""
Modules and their scripts: each built-in module becomes a plugin module of the same name and code.

An uploaded module's code is read through NetBox's `scripts` storage (as NetBox itself reads it) and registered as
an upload; a Data Source module is registered on the same DataFile, with the same auto-sync setting. Before
anything is written, the code is imported under the plugin, with the other modules being moved importable by it
(helper modules), and every built-in script must be found there as a class of the same name: a module that does not
load, or loses a script, stays on the built-in side, whole, with the reason in the plan.
"""
import ast
import logging

from django.core.files.storage import storages
from django.db import transaction
from django.utils.translation import gettext as _

from ..choices import ModuleSourceChoices
from ..execution import (
    ModuleLoadError,
    PendingSource,
    forget,
    import_module_source,
    pending_sources,
    register_data_file,
    register_upload,
)
from ..models import Script, ScriptModule
from ..models.modules import content_hash
from ..scripting.meta import secret_variable_names
from .plan import ModulePlan

__all__ = ('move_module', 'plan_modules', 'read_builtin_source')

logger = logging.getLogger('netbox_custom_scripts.migrate_builtin')


def read_builtin_source(builtin):
    """The code of a built-in module as NetBox runs it: from its DataFile, or from the `scripts` storage."""
    if builtin.data_file_id:
        data = bytes(builtin.data_file.data or b'')
    else:
        with storages['scripts'].open(builtin.file_path, 'rb') as f:
            data = f.read()
    return data.decode('utf-8').removeprefix('\ufeff')


def _is_package(builtin):
    return builtin.file_path.endswith('__init__.py')


def _imported_names(source_code):
    """Top-level names of the modules a source imports (absolute imports only)."""
    try:
        tree = ast.parse(source_code)
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
    return names


def _helpers_first(plans):
    """Modules another module imports come before it, so each is registered before its importers load."""
    by_name = {plan.name: plan for plan in plans}
    ordered, seen = [], set()

    def visit(plan, path=()):
        if plan.name in seen or plan.name in path:
            return
        for name in sorted(_imported_names(plan.source_code or '') & set(by_name) - {plan.name}):
            visit(by_name[name], (*path, plan.name))
        seen.add(plan.name)
        ordered.append(plan)

    for plan in plans:
        visit(plan)
    return ordered


def _target_kind(builtin):
    return 'data-source' if builtin.data_file_id else 'upload'


def _existing_counterpart(plan):
    """(already moved?, why it cannot be moved) from the plugin module of the same name, if there is one."""
    existing = ScriptModule.objects.filter(name=plan.name).select_related('current_revision').first()
    if existing is None:
        return False, ''
    builtin = plan.builtin
    if builtin.data_file_id:
        if existing.source == ModuleSourceChoices.DATA_SOURCE and existing.data_file_id == builtin.data_file_id:
            return True, ''
    elif existing.source == ModuleSourceChoices.UPLOAD and existing.content_hash == content_hash(plan.source_code):
        return True, ''
    return False, _('The plugin already has a module named {name} ({source}) with other code: rename or delete '
                    'one of them first.').format(name=plan.name, source=existing.get_source_display().lower())


def plan_modules(scope):
    """ModulePlans for the built-in modules in `scope` ({name: extras.ScriptModule}), helpers first."""
    plans = []
    for name, builtin in scope.items():
        plan = ModulePlan(name=name, builtin=builtin)
        try:
            plan.source_code = read_builtin_source(builtin)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            plan.read_error = _('Its code cannot be read: {error}').format(error=exc)
        plans.append(plan)
    plans = _helpers_first(plans)
    pending = {
        plan.name: PendingSource(plan.source_code, content_hash(plan.source_code), _is_package(plan.builtin))
        for plan in plans if plan.source_code is not None
    }
    with pending_sources(pending):
        for plan in plans:
            _plan_module(plan)
    return plans


def _plan_module(plan):
    builtin = plan.builtin
    label = _('module {name}').format(name=plan.name)
    action = 'link' if builtin.data_file_id else 'move'
    target = (_('data-source module {name} (data file {path}, auto-sync {sync})').format(
        name=plan.name, path=builtin.data_path, sync=_('on') if builtin.auto_sync_enabled else _('off'))
        if builtin.data_file_id else _('uploaded module {name}').format(name=plan.name))
    scripts = list(builtin.scripts.filter(is_executable=True).order_by('name'))

    if plan.source_code is None:
        plan.add('module', label, builtin.pk, 'cannot_move', target, plan.read_error)
        return
    done, conflict = _existing_counterpart(plan)
    if conflict:
        plan.add('module', label, builtin.pk, 'cannot_move', target, conflict)
        return
    if done:
        plan.add('module', label, builtin.pk, 'already_done', target)
        existing = set(Script.objects.filter(module__name=plan.name).values_list('class_name', flat=True))
        plan.secret_inputs = {
            class_name: set(meta.get('sensitive_variables') or ())
            for class_name, meta in Script.objects.filter(module__name=plan.name).values_list('class_name', 'meta')
        }
        for script in scripts:
            action_ = 'already_done' if script.name in existing else 'cannot_move'
            plan.add('script', _('script {module}.{name}').format(module=plan.name, name=script.name), script.pk,
                     action_, f'{plan.name}.{script.name}',
                     '' if action_ == 'already_done' else _('The plugin module has no class {name}.').format(
                         name=script.name))
        return

    error, classes = _load(plan)
    plan.secret_inputs = classes
    if error:
        plan.add('module', label, builtin.pk, 'cannot_move', target,
                 _('It does not load under the plugin: {error}').format(error=error))
        return
    missing = [script.name for script in scripts if script.name not in classes]
    if missing:
        plan.add('module', label, builtin.pk, 'cannot_move', target, _(
            'Under the plugin it has no script class {names}, which the built-in module lists.'
        ).format(names=', '.join(missing)))
        return
    plan.add('module', label, builtin.pk, action, target)
    for script in scripts:
        plan.add('script', _('script {module}.{name}').format(module=plan.name, name=script.name), script.pk,
                 'move', f'{plan.name}.{script.name}')


def _load(plan):
    """
    Import the module's code under the plugin (nothing is saved): (error or '', {class name: its secret variable
    names}).
    """
    try:
        # Its top-level code runs: whatever it writes is rolled back, so planning changes nothing.
        with transaction.atomic():
            try:
                loaded = import_module_source(
                    plan.name, plan.source_code, content_hash(plan.source_code), is_package=_is_package(plan.builtin),
                )
            finally:
                transaction.set_rollback(True)
    except ModuleLoadError as exc:
        return str(exc), set()
    finally:
        # A check, not a registration: the process must not keep running code that is not a module yet.
        if not ScriptModule.objects.filter(name=plan.name).exists():
            forget(plan.name)
    return '', {cls.__name__: set(secret_variable_names(cls)) for cls in loaded.scripts}


def move_module(plan, user):
    """Register the built-in module's counterpart (the caller holds the module's transaction)."""
    builtin = plan.builtin
    if builtin.data_file_id:
        return register_data_file(
            builtin.data_file, name=plan.name, user=user, auto_sync_enabled=builtin.auto_sync_enabled,
        )
    return register_upload(plan.name, plan.source_code, user=user, module=ScriptModule(
        description=_('Moved from built-in scripts ({path})').format(path=builtin.file_path)[:200],
    )) if not _is_package(builtin) else register_upload(plan.name, plan.source_code, user=user)
