try:
    from utilities.exceptions import AbortScript as _NetBoxAbortScript
except ImportError:  # NetBox 5.0 removes its built-in scripts, and AbortScript with them
    _NetBoxAbortScript = None

__all__ = (
    'AbortScript',
    'AbortScriptBase',
    'ScriptDefinitionError',
)


class AbortScript(_NetBoxAbortScript or Exception):
    """
    Raise to stop a script cleanly: the run ends "aborted" with this message, no traceback, and every change is
    rolled back. While NetBox ships its own AbortScript this is a subclass of it, so `except AbortScript` works with
    either import; once NetBox no longer does, modules importing NetBox's get this one.
    """


# What the run catches: NetBox's AbortScript (ours derives from it, and modules importing it from
# `utilities.exceptions` raise it) while NetBox ships one, else ours.
AbortScriptBase = _NetBoxAbortScript or AbortScript


class ScriptDefinitionError(Exception):
    """A Script class declares something invalid (bad Meta value, clashing variable name, ...)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('; '.join(self.errors))
