__all__ = (
    'RunRefused',
)


class RunRefused(Exception):
    """A run cannot start (module broken, script gone, singleton busy, ...). The message says why."""
