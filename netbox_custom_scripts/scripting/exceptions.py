from utilities.exceptions import AbortScript as NetBoxAbortScript

__all__ = (
    'AbortScript',
    'ScriptDefinitionError',
)


class AbortScript(NetBoxAbortScript):
    """
    Raise to stop a script cleanly: the run ends "aborted" with this message, no traceback, and every change is
    rolled back. A subclass of NetBox's own AbortScript, so `except AbortScript` works with either import.
    """


class ScriptDefinitionError(Exception):
    """A Script class declares something invalid (bad Meta value, clashing variable name, ...)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('; '.join(self.errors))
