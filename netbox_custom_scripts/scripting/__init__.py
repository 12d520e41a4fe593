"""
The authoring API: everything a script module imports. Source-compatible with NetBox's `extras.scripts`, so a
module moves over by changing its import line (or not at all: modules importing `extras.scripts` are given this
API when the plugin loads them).
"""
from .exceptions import AbortScript, ScriptDefinitionError
from .log import LogEntry, LogLevel
from .netbox_api import get_module_and_script
from .script import BaseScript, Script
from .variables import *  # noqa: F403
from .variables import __all__ as _variables

__all__ = (
    'AbortScript',
    'BaseScript',
    'LogEntry',
    'LogLevel',
    'Script',
    'ScriptDefinitionError',
    'get_module_and_script',
    *_variables,
)
