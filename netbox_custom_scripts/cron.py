"""
Cron expressions and intervals of schedules. A cron expression has exactly the five fields the form documents
(minute hour day month weekday, in UTC) and must match some time in the next few years: croniter also accepts
six- and seven-field expressions (seconds, years), which would start a run every second, and expressions that
never match (30 February), which fail only when the next run is computed.
"""
import datetime

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter
from django.utils.translation import gettext as _

__all__ = (
    'MAX_CRON_LENGTH',
    'MAX_INTERVAL_MINUTES',
    'cron_errors',
    'interval_errors',
    'next_cron_time',
)

MAX_CRON_LENGTH = 100
# One year: longer periods overflow date arithmetic long before they are useful.
MAX_INTERVAL_MINUTES = 366 * 24 * 60
# A schedule whose expression matches less often than this is refused as never matching.
_MAX_YEARS_BETWEEN_MATCHES = 8


def next_cron_time(expression, after):
    """The first time after `after` that `expression` matches; raises ValueError when there is none."""
    try:
        return croniter(expression, after, max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES).get_next(
            datetime.datetime
        )
    except (CroniterError, CroniterBadDateError, CroniterBadCronError, ValueError, OverflowError, KeyError) as exc:
        raise ValueError(str(exc))


def cron_errors(expression):
    """What is wrong with a cron expression (a list of messages; empty when it is fine)."""
    if not isinstance(expression, str):
        return [_('A cron expression is text, such as "30 2 * * 1-5".')]
    if len(expression) > MAX_CRON_LENGTH:
        return [_('A cron expression is at most {limit} characters long.').format(limit=MAX_CRON_LENGTH)]
    fields = expression.split()
    if len(fields) != 5:
        return [_(
            'A cron expression has exactly five fields (minute hour day month weekday), e.g. "30 2 * * 1-5"; '
            'this one has {count}.'
        ).format(count=len(fields))]
    if not croniter.is_valid(' '.join(fields)):
        return [_('{value!r} is not a valid cron expression.').format(value=expression)]
    try:
        next_cron_time(' '.join(fields), datetime.datetime.now(datetime.UTC))
    except ValueError:
        return [_('{value!r} never matches a date (e.g. 30 February), so it would never run.').format(
            value=expression
        )]
    return []


def interval_errors(interval):
    """What is wrong with a schedule interval in minutes (a list of messages; empty when it is fine)."""
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        return [_('Interval must be a whole number of minutes, at least 1.')]
    if interval > MAX_INTERVAL_MINUTES:
        return [_('Interval must be at most {limit} minutes (a year); use a cron expression or a one-off run.').format(
            limit=MAX_INTERVAL_MINUTES
        )]
    return []
