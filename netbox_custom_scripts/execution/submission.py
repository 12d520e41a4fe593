"""
submit(): the front door through which every run starts, whatever its kind. An adapter builds a RunRequest and
hands it over; the kind of run follows from the request: a re-run, a schedule (interval or cron), or one run -
now, later, in this process, a health check, an approval request or an approved commit (dispatch.start_run()).
"""
from django.utils.translation import gettext as _

from .dispatch import as_repeat, prepare, start_run
from .errors import InputError
from .schedules import create_schedule

__all__ = (
    'submit',
)


def submit(request):
    """
    Start what `request` asks for, as its user. Returns the new ScriptRun (a schedule's first one). Raises
    PermissionDenied, InputError (per field, under the names the request used) or RunRefused (RateLimited with a
    retry-after); nothing is written then.
    """
    if request.rerun_of is not None and request.approval_of is None:
        request = as_repeat(request)
    if request.recurring:
        return _start_schedule(request)
    return start_run(request)


def _start_schedule(request):
    prepared = prepare(request)
    if prepared.staged:
        raise InputError({'new_branch': [
            _('A schedule cannot stage its runs in a new branch; choose an existing one.')
        ]})
    schedule = create_schedule(
        request.script, user=request.user, inputs=request.data or {}, commit=prepared.commit,
        start_at=request.schedule_at, interval=request.interval, cron=request.cron,
        notifications=prepared.notifications, health_check=request.health_check, branch=prepared.branch,
    )
    return schedule.runs.order_by('-pk').first()
