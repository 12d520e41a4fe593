"""
What a script module's imports give it. Modules written for NetBox's built-in scripts import `extras.scripts`,
`extras.reports` or `utilities.exceptions.AbortScript`: they get this plugin's authoring API instead (NetBox's own
AbortScript while NetBox ships one), so they run unchanged; and a plain-name import of a helper module of the
scripts root (`from helpers import x`) gets the registered module of that name, as it would on NetBox.
"""
import builtins
import importlib
import sys
import types

__all__ = (
    'MODULE_BUILTINS',
    'PACKAGE',
    'qualified_name',
)


PACKAGE = '_custom_scripts'


def qualified_name(name):
    return f'{PACKAGE}.{name}'


# Imports redirected while a script module executes: NetBox's authoring API -> ours.
_REDIRECTED_IMPORTS = {
    'extras.scripts': 'netbox_custom_scripts.scripts',
    'extras.reports': 'netbox_custom_scripts.reports',
}


# What script modules importing from NetBox are given in place of NetBox's: module -> {attribute: (module providing
# it, attribute there or None for the module itself, replaced even while NetBox has it)}. NetBox's authoring API is
# always ours; AbortScript is NetBox's own while NetBox ships it (5.0 removes it with built-in scripts), then ours.
_SUBSTITUTES = {
    'extras': {
        'scripts': ('netbox_custom_scripts.scripts', None, True),
        'reports': ('netbox_custom_scripts.reports', None, True),
    },
    'utilities.exceptions': {'AbortScript': ('netbox_custom_scripts.scripting.exceptions', 'AbortScript', False)},
}


# Top-level packages whose imports in script modules go through _overlay().
_OVERLAID_PACKAGES = {name.partition('.')[0] for name in _SUBSTITUTES}


class _ModuleOverlay(types.ModuleType):
    """
    A NetBox module as a script module sees it: NetBox's own (when it still exists), with some attributes replaced
    (see _SUBSTITUTES). Bound only in the script module's namespace; sys.modules keeps NetBox's.
    """

    def __init__(self, name, real, replaced):
        super().__init__(name)
        vars(self).update(replaced)
        vars(self)['_overlaid_module'] = real
        for attribute in ('__file__', '__path__', '__package__', '__spec__', '__doc__'):
            if real is not None and hasattr(real, attribute):
                vars(self)[attribute] = getattr(real, attribute)

    def __getattr__(self, attribute):
        real = vars(self)['_overlaid_module']
        if real is None:
            raise AttributeError(f'module {self.__name__!r} has no attribute {attribute!r}')
        return getattr(real, attribute)


def _import_or_none(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _overlay(name):
    """The module `name` as script modules see it: NetBox's own unless something of it is substituted."""
    real = _import_or_none(name)
    replaced = {}
    for attribute, (provider, provided, always) in _SUBSTITUTES.get(name, {}).items():
        if always or real is None or not hasattr(real, attribute):
            module = importlib.import_module(provider)
            replaced[attribute] = module if provided is None else getattr(module, provided)
    # A parent package shows its substituted submodules (`import utilities.exceptions` binds `utilities`).
    for child in _SUBSTITUTES:
        parent, __, attribute = child.rpartition('.')
        if parent == name and attribute not in replaced:
            seen = _overlay(child)
            if seen is not sys.modules.get(child):
                replaced[attribute] = seen
    if not replaced:
        if real is None:
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
        return real
    return _ModuleOverlay(name, real, replaced)


def _redirecting_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in _REDIRECTED_IMPORTS:
        module = importlib.import_module(_REDIRECTED_IMPORTS[name])
        # `from extras.scripts import X` needs the leaf; `import extras.scripts` binds the package `extras`.
        return module if fromlist else _overlay(name.partition('.')[0])
    if level == 0 and name.partition('.')[0] in _OVERLAID_PACKAGES:
        # `import extras.models` must not rebind `extras` to a package whose `scripts` is NetBox's (or missing), and
        # `from utilities.exceptions import AbortScript` must work where NetBox no longer has it.
        substituted = _SUBSTITUTES.get(name, {})
        wanted = tuple(item for item in fromlist or () if item not in substituted)
        try:
            builtins.__import__(name, globals, locals, wanted, level)
        except ImportError:
            if not substituted:
                raise
        return _overlay(name) if fromlist else _overlay(name.partition('.')[0])
    try:
        return builtins.__import__(name, globals, locals, fromlist, level)
    except ModuleNotFoundError as exc:
        # Built-in scripts import helper modules of their scripts root by plain name (`from helpers import x`),
        # which works there when that directory is on sys.path; here the registered module of that name answers.
        top = name.partition('.')[0]
        if level != 0 or exc.name != top:
            raise
        try:
            leaf = importlib.import_module(qualified_name(name))
        except ModuleNotFoundError as missing:
            if missing.name not in (qualified_name(top), qualified_name(name)):
                raise  # the registered module itself imports something missing
            raise exc from None
        return leaf if fromlist else sys.modules[qualified_name(top)]


MODULE_BUILTINS = {**vars(builtins), '__import__': _redirecting_import}
