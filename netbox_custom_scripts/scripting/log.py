from datetime import datetime
from typing import NamedTuple

__all__ = (
    'LOG_LEVELS',
    'LogEntry',
    'LogLevel',
)


class LogLevel:
    """Levels of a script's log, in increasing severity."""
    DEBUG = 'debug'
    INFO = 'info'
    SUCCESS = 'success'
    WARNING = 'warning'
    FAILURE = 'failure'


# Ordered by severity; the index is the rank used for level filters.
LOG_LEVELS = (LogLevel.DEBUG, LogLevel.INFO, LogLevel.SUCCESS, LogLevel.WARNING, LogLevel.FAILURE)


class LogEntry(NamedTuple):
    """
    One line of a script's log, as the script emitted it; storage is the execution core's business. A tuple,
    because scripts log a lot: creating one must cost next to nothing.
    """
    level: str
    message: str
    time: datetime
    object_repr: str = ''
    object_url: str = ''
    object_type: str = ''  # "app_label.model" of the related object, if any
    object_id: int | None = None
    test: str = ''  # the test_* method that logged it, for report-style scripts
