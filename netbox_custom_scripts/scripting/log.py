import re
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from .vocabulary import LOG_LEVELS, LogLevel

__all__ = (
    'LOG_LEVELS',
    'LogEntry',
    'LogLevel',
    'safe_link',
)

# Browsers ignore these anywhere in a URL's scheme ("java\tscript:" runs as javascript:).
_IGNORED_IN_SCHEME = re.compile(r'[\x00-\x20\x7f]')
LINK_SCHEMES = ('', 'http', 'https')


def safe_link(url):
    """`url` if it may become a link (http, https or relative), else '' (javascript:, data: and the like)."""
    if not isinstance(url, str) or not url:
        return ''
    try:
        scheme = urlsplit(_IGNORED_IN_SCHEME.sub('', url)).scheme
    except ValueError:
        return ''
    return url if scheme.lower() in LINK_SCHEMES else ''


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
    time_text: str = ''  # `time` in ISO 8601, when the script already formatted it (formatting costs a microsecond)

    @property
    def iso_time(self):
        return self.time_text or self.time.isoformat()
