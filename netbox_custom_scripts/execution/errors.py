__all__ = (
    'RateLimited',
    'RunRefused',
)


class RunRefused(Exception):
    """A run cannot start (module broken, script gone, singleton busy, ...). The message says why."""


class RateLimited(RunRefused):
    """The user reached the script's Meta.rate_limit; `retry_after` seconds until the next run is allowed."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after
