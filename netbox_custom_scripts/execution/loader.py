"""
Importing script modules.

Module code lives in the database (ModuleRevision), so every process - web or RQ worker, on any host - imports
exactly the revision it was handed. Modules are imported under the private package `_custom_scripts`, so a module
named like a NetBox app (`dcim`, `circuits`) can never shadow it; relative imports between modules of one package
resolve to other registered modules. Imports are cached by content hash: an unchanged module is imported once per
process, however often it is listed or run.

Modules written for NetBox's built-in scripts import `extras.scripts`; they are given this plugin's authoring API
instead, so they run unchanged.
"""
import importlib
import importlib.abc
import importlib.util
import inspect
import linecache
import sys
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from ..reports import Report
from ..scripting import BaseScript, Script
from ..scripting.definition import check_definition
from ..scripting.meta import LOADED_FROM, describe_variables, script_options
from ..scripting.netbox_api import SOURCE_ATTRIBUTE
from .errors import RunRefused
from .script_imports import MODULE_BUILTINS, PACKAGE, qualified_name

__all__ = (
    'LoadedModule',
    'ModuleLoadError',
    'PACKAGE',
    'PendingSource',
    'get_script_class',
    'import_module_source',
    'load_revision',
    'pending_sources',
)


_lock = threading.RLock()


class ModuleLoadError(Exception):
    """A module could not be imported or defines something invalid. `line` is the offending line, if known."""

    def __init__(self, message, line=None):
        self.message = message
        self.line = line
        super().__init__(message if line is None else f'{message} (line {line})')


@dataclass
class LoadedModule:
    name: str
    content_hash: str
    module: object
    display_name: str
    scripts: list                                   # Script classes, in list order
    dependencies: dict = field(default_factory=dict)  # other registered modules it imported: name -> content hash
    # What NetBox tolerates but a script author should fix: module-level (classes left out, none found) and per
    # Script class name.
    warnings: list = field(default_factory=list)
    script_warnings: dict = field(default_factory=dict)


# name -> LoadedModule; one entry per module name, replaced when its content changes
_cache = {}


def clear_cache():
    """Forget every module imported in this process (the next use imports it again from its revision)."""
    _cache.clear()


def _filename(name):
    # Shown in tracebacks; the source is registered with linecache so traceback lines are printed.
    return f'<custom-scripts>/{name.replace(".", "/")}.py'


@dataclass(frozen=True)
class PendingSource:
    """A module source about to be registered, importable by its siblings before it is saved."""
    source_code: str
    content_hash: str
    is_package: bool


class _RegisteredModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """
    Resolves `_custom_scripts.<name>` to the current revision of the registered module `<name>` (or to a source
    being registered alongside it), so that `from . import helpers` inside a package module finds its sibling.
    Parent packages without an `__init__` module become empty namespace packages.
    """
    # Records which registered modules the import in progress pulled in, for cache validation.
    active_dependencies = None
    # name -> PendingSource, while a directory is being registered
    pending = {}

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(PACKAGE + '.'):
            return None
        from ..models import ScriptModule

        name = fullname[len(PACKAGE) + 1:]
        if name in self.pending:
            pending = self.pending[name]
            spec = importlib.util.spec_from_loader(
                fullname, self, origin=_filename(name), is_package=pending.is_package
            )
            spec.loader_state = pending
            return spec
        module = ScriptModule.objects.filter(name=name).select_related('current_revision').first()
        if module and module.current_revision:
            spec = importlib.util.spec_from_loader(
                fullname, self, origin=_filename(name), is_package=module.file_path.endswith('__init__.py')
            )
            spec.loader_state = module.current_revision
            return spec
        if any(pending.startswith(f'{name}.') for pending in self.pending) or (
            ScriptModule.objects.filter(name__startswith=f'{name}.').exists()
        ):
            spec = importlib.util.spec_from_loader(fullname, None, is_package=True)
            spec.submodule_search_locations = []
            return spec
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        revision = module.__spec__.loader_state
        name = module.__name__[len(PACKAGE) + 1:]
        if self.active_dependencies is not None:
            self.active_dependencies[name] = revision.content_hash
        _execute(module, name, revision.source_code)


_finder = _RegisteredModuleFinder()


@contextmanager
def pending_sources(sources):
    """Make `sources` ({name: PendingSource}) importable by each other while they are being registered."""
    with _lock:
        _finder.pending = dict(sources)
        try:
            yield
        finally:
            _finder.pending = {}


def _ensure_package():
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_loader(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = []
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    if _finder not in sys.meta_path:
        sys.meta_path.append(_finder)


def _execute(module, name, source):
    filename = _filename(name)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module.__file__ = filename
    module.__builtins__ = MODULE_BUILTINS
    code = compile(source, filename, 'exec', dont_inherit=True)
    exec(code, module.__dict__)
    _remember_source(module, source)


def _remember_source(module, source):
    # Script.source reads the revision a class was executed from, even after a newer revision replaced the module.
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            try:
                setattr(value, SOURCE_ATTRIBUTE, source)
            except (AttributeError, TypeError):  # a class that refuses new attributes keeps no source
                pass


def _error_line(exc, filename):
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def _find_scripts(module):
    """The Script classes of a module: script_order first, then the rest alphabetically by name."""
    found = {}
    for attr in vars(module).values():
        # The bases themselves are not scripts (as on NetBox, which leaves out Script and Report).
        if isinstance(attr, type) and issubclass(attr, Script) and attr not in (Script, Report):
            found[attr.__name__] = attr
    ordered = []
    for cls in getattr(module, 'script_order', ()) or ():
        if isinstance(cls, type) and cls.__name__ in found and cls not in ordered:
            ordered.append(cls)
    # By Meta name, read through script_options(): a variable called `name` must not change the order.
    rest = sorted(
        (cls for cls in found.values() if cls not in ordered),
        key=lambda cls: (script_options(cls).name.lower(), cls.__name__),
    )
    return ordered + rest


_NETBOX_SCRIPT_CLASSES = ('BaseScript', 'Script', 'Report')


def _netbox_base(cls):
    """The first class of NetBox's own script API (extras.scripts / extras.reports) that `cls` derives from."""
    for base in inspect.getmro(cls):
        if base.__module__ in ('extras.scripts', 'extras.reports') and base.__name__ in _NETBOX_SCRIPT_CLASSES:
            return base
    return None


def _unlisted_class_warnings(module, qualified, has_scripts):
    """
    Why classes that look like scripts are not listed: ones derived from NetBox's own Report or Script classes
    always (they are meant to run), helper bases (BaseScript only) when the module has no script at all.
    """
    warnings = []
    for attr in vars(module).values():
        if not isinstance(attr, type) or attr.__module__ != qualified or issubclass(attr, Script):
            continue
        base = _netbox_base(attr)
        if base is not None:
            source = 'extras.reports' if base.__name__ == 'Report' else 'extras.scripts'
            warnings.append(_(
                "class {name} derives from NetBox's own {source}.{base}, imported in a way the plugin does not "
                'redirect: import it with "from {source} import {base}"'
            ).format(name=attr.__name__, base=base.__name__, source=source))
        elif not has_scripts and issubclass(attr, BaseScript) and attr is not BaseScript:
            warnings.append(_(
                'class {name} derives from BaseScript only, which is for shared bases and is never listed: derive it '
                'from Script to run it'
            ).format(name=attr.__name__))
    return warnings


def import_module_source(name, source, content_hash, *, is_package=False, data_root=None, module_dir=''):
    """
    Import `source` as the script module `name` and check every Script class it defines. Returns a LoadedModule,
    or raises ModuleLoadError with a message a script author can act on (and the line number, when known).
    The import replaces any cached import of the module.
    """
    filename = _filename(name)
    with _lock:
        _ensure_package()
        qualified = qualified_name(name)
        spec = importlib.util.spec_from_loader(qualified, loader=None, origin=filename, is_package=is_package)
        if is_package:
            spec.submodule_search_locations = []
        module = importlib.util.module_from_spec(spec)
        previous = sys.modules.get(qualified)
        sys.modules[qualified] = module
        dependencies = {}
        _finder.active_dependencies = dependencies
        try:
            _execute(module, name, source)
        except SyntaxError as exc:
            _restore(qualified, previous)
            raise ModuleLoadError(_('Syntax error: {msg}').format(msg=exc.msg), _error_line(exc, filename))
        except BaseException as exc:  # a module may raise anything at import, SystemExit included
            _restore(qualified, previous)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ModuleLoadError(
                _('Import failed: {type}: {error}').format(type=type(exc).__name__, error=exc),
                _error_line(exc, filename),
            )
        finally:
            _finder.active_dependencies = None

        module_name = getattr(module, 'name', None)
        display_name = module_name if isinstance(module_name, str) and module_name else name
        candidates = _find_scripts(module)
        strict = settings.PLUGINS_CONFIG.get('netbox_custom_scripts', {}).get('strict_meta', False)
        errors, warnings, scripts, script_warnings = [], [], [], {}
        for cls in candidates:
            if cls.__module__ == qualified:
                setattr(cls, LOADED_FROM, {'module': name, 'data_root': data_root, 'module_dir': module_dir})
            check = check_definition(cls)
            try:
                describe_variables(cls)  # what the Script record stores: a default it cannot describe is an error
            except Exception as exc:
                check.errors.append(_('its variables cannot be described ({error}): check their defaults').format(
                    error=f'{type(exc).__name__}: {exc}'))
            # The plugin's own options are checked strictly; with strict_meta, what NetBox tolerates is refused too.
            refused = [*check.errors, *(check.warnings if strict else ())]
            if refused:
                errors.append(f'{cls.__name__}: {"; ".join(map(str, refused))}')
            elif check.unusable:
                warnings.append(_('class {name} could not be used because {reasons}').format(
                    name=cls.__name__, reasons='; '.join(map(str, check.unusable))
                ))
            else:
                scripts.append(cls)
                script_warnings[cls.__name__] = [str(warning) for warning in check.warnings]
        if strict and warnings:
            errors.extend(warnings)
        if errors:
            line = _class_line(candidates, errors)  # while the module's source is still registered
            _restore(qualified, previous)
            raise ModuleLoadError('; '.join(errors), line)
        warnings.extend(_unlisted_class_warnings(module, qualified, bool(candidates)))
        if not scripts:
            warnings.append(
                _('no usable Script classes: every Script class of this module is left out (see above)') if candidates
                else _('no Script subclasses found, so this module lists no scripts (fine for a helper module that '
                       'other modules import)')
            )

        loaded = LoadedModule(
            name, content_hash, module, display_name, scripts, dependencies, [str(w) for w in warnings],
            script_warnings,
        )
        _cache[name] = loaded
        return loaded


def _class_line(scripts, errors):
    # Point at the first class whose definition was rejected ("Name: ..." or "class Name could not be used ...").
    failing = {error.split(':', 1)[0].removeprefix('class ').split(' ')[0] for error in errors}
    for cls in scripts:
        if cls.__name__ in failing:
            try:
                return inspect.getsourcelines(cls)[1]
            except (OSError, TypeError):
                return None
    return None


def _restore(qualified, previous):
    if previous is None:
        sys.modules.pop(qualified, None)
    else:
        sys.modules[qualified] = previous


def _dependencies_current(loaded):
    if not loaded.dependencies:
        return True
    from ..models import ScriptModule

    current = dict(
        ScriptModule.objects.filter(name__in=loaded.dependencies).values_list('name', 'current_revision__content_hash')
    )
    return current == loaded.dependencies


def load_revision(revision):
    """The imported module of a ModuleRevision, from the cache when this process already imported that content."""
    module = revision.module
    with _lock:
        cached = _cache.get(module.name)
        if cached and cached.content_hash == revision.content_hash and _dependencies_current(cached):
            return cached
        return import_module_source(
            module.name,
            revision.source_code,
            revision.content_hash,
            is_package=module.file_path.endswith('__init__.py'),
            data_root=module.data_root,
            module_dir=module.module_dir,
        )


def forget(name):
    """Drop a module from this process's cache (after it was deleted)."""
    with _lock:
        _cache.pop(name, None)
        sys.modules.pop(qualified_name(name), None)


def get_script_class(script, revision=None):
    """The Script class of a Script record, imported from `revision` (default: its module's current revision)."""
    module = script.module
    revision = revision or module.current_revision
    if revision is not None and revision.module_id == module.pk:
        revision.module = module  # the same row: no query for it in load_revision()
    if revision is None or not module.is_runnable:
        raise RunRefused(
            _('Module {module} cannot be loaded: {error}').format(module=module.name, error=module.error or '?')
        )
    loaded = load_revision(revision)
    for cls in loaded.scripts:
        if cls.__name__ == script.class_name:
            return cls
    raise RunRefused(_('Script {name} no longer exists in module {module}.').format(
        name=script.class_name, module=module.name
    ))
