"""
Values a script uses that the rest of the plugin shares (its choices and filters are built from these): log
levels and notification choices. Plain Python, importable before Django's apps are ready.
"""

__all__ = (
    'LOG_LEVELS',
    'LogLevel',
    'NOTIFICATION_CHOICES',
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

# When NetBox notifies the user a run finished (Meta.notifications_default), as NetBox's own scripts take them.
NOTIFICATION_CHOICES = ('always', 'on_failure', 'never')
