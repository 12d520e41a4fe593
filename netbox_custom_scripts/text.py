"""Small checks on text that comes from URLs and command lines."""
import re

__all__ = (
    'is_whole_number',
)

# ASCII digits only (str.isdigit() also accepts '²' and other digits int() refuses), and few enough of them for a
# PostgreSQL bigint (and for int(), which refuses very long strings).
_WHOLE_NUMBER = re.compile(r'[0-9]{1,18}')


def is_whole_number(text):
    """Whether `text` is a whole number int() takes and a database ID can be."""
    return isinstance(text, str) and _WHOLE_NUMBER.fullmatch(text) is not None
