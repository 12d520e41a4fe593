from dataclasses import dataclass, field
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a script's log, as the script emitted it. Storage is the execution core's business."""
    level: str
    message: str
    time: datetime
    object_repr: str = ''
    object_url: str = ''
    object_type: str = ''  # "app_label.model" of the related object, if any
    object_id: int | None = None
    extra: dict = field(default_factory=dict)
