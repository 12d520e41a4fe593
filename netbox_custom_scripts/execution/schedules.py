"""
Schedules: runs that repeat every N minutes or on a cron expression, or happen once at a set time. Each occurrence
is its own run (and request ID), queued on RQ for its time when the previous one ends; pausing a schedule cancels
its queued occurrence, resuming queues the next one.
"""
import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..choices import RunSourceChoices, RunStatusChoices
from ..cron import next_cron_time
from ..models import Schedule, ScriptRun
from ..scripting.meta import script_options
from .branches import check_branch, find_branch, inside
from .dispatch import cancel_run, check_run_permission, check_schedule, start_run
from .errors import InputError, RunRefused
from .inputs import validate_inputs
from .loader import get_script_class
from .policy import check_unattended_commit
from .request import RunRequest, resolve_commit

__all__ = (
    'check_schedule_settings',
    'create_schedule',
    'pause_schedule',
    'resume_schedule',
    'schedule_next_run',
    'update_schedule',
)

logger = logging.getLogger('netbox_custom_scripts.schedules')


def schedule_next_run(schedule, after=None):
    """
    Create the next run of a schedule and queue it for its time: the start time (or now) for the first run, then
    `interval` minutes after the previous run's time, or the cron expression's next time. Returns the run, or None
    when the schedule is paused or a one-off schedule is done.
    """
    if not schedule.enabled:
        return None
    now = timezone.now()
    if after is None:
        when = schedule.start_at if schedule.start_at and schedule.start_at > now else None
        if when is None and schedule.cron:
            when = next_cron_time(schedule.cron, now)
    elif schedule.interval:
        when = max(after + datetime.timedelta(minutes=schedule.interval), now + datetime.timedelta(seconds=1))
    elif schedule.cron:
        when = next_cron_time(schedule.cron, max(after, now))
    else:
        return None
    run = start_run(RunRequest(
        script=schedule.script, user=schedule.user, data=schedule.inputs, commit=schedule.commit,
        source=RunSourceChoices.SCHEDULE, schedule_at=when, notifications=schedule.notifications, schedule=schedule,
        health_check=schedule.health_check, branch=schedule.branch_id,
    ))
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=when or now, job=run.job)
    return run


def check_schedule_settings(script, user, inputs, start_at, interval, cron, health_check=False, commit=False):
    """
    Check the schedule's inputs and timing as a run would be checked, and - for a committing schedule - that `user`
    may commit runs nobody confirms; returns the inputs to store.
    """
    check_run_permission(script, user)
    if commit and not health_check:
        check_unattended_commit(script, user)
    script_class = get_script_class(script)
    if health_check:
        check_schedule(script_class, start_at, interval, cron or None, {}, recurring=True, at_field='start_at')
        return {}
    validated = validate_inputs(script_class, inputs, user=user)
    check_schedule(
        script_class, start_at, interval, cron or None, validated.secrets, recurring=True, at_field='start_at',
    )
    return validated.stored


def schedule_branch(reference, user):
    """The branch a schedule's runs execute in (a Branch, name or ID; empty: main), checked as `user`."""
    branch = find_branch(reference)
    check_branch(branch, user)
    return branch


def _set_branch(schedule, branch):
    schedule.branch_id = branch.pk if branch is not None else None
    schedule.branch_name = branch.name if branch is not None else ''


def create_schedule(script, *, user, inputs=None, commit=None, start_at=None, interval=None, cron='', name=None,
                    description='', notifications=None, health_check=False, branch=None):
    """
    Create a schedule (its inputs validated as a run's would be) and queue its first run. Without `commit`, its runs
    commit as the script's Meta.commit_default says (request.resolve_commit(), as every run). `branch`: the
    netbox-branching branch its runs execute in (None: main).
    """
    options = script_options(get_script_class(script))
    commit = resolve_commit(commit, options.commit_default)
    branch = schedule_branch(branch, user)
    if branch is not None and health_check:
        raise InputError({'branch': [_("A run of the script's tests executes in main, not in a branch.")]})
    with inside(branch):
        stored = check_schedule_settings(script, user, inputs or {}, start_at, interval, cron, health_check, commit)
    with transaction.atomic():
        schedule = Schedule(
            name=(name or f'{script.name} ({f"every {interval} min" if interval else cron or "once"})')[:200],
            script=script, user=user, inputs=stored, commit=bool(commit) and not health_check, start_at=start_at,
            interval=interval, cron=cron or '', description=description, health_check=health_check,
            notifications=notifications or options.notifications_default,
        )
        _set_branch(schedule, branch)
        schedule.full_clean()
        schedule.save()
        schedule_next_run(schedule)
    schedule.refresh_from_db()
    return schedule


def update_schedule(schedule, user, **changes):
    """
    Change a schedule; its queued run is replaced by one that follows the new settings. From now on the schedule
    runs as `user`: whoever decides what a schedule runs answers for it, with their own permissions and policy (its
    owner's would let an editor commit, or act, as the owner).
    """
    branch = schedule_branch(changes.pop('branch', schedule.branch_id), user)
    for key, value in changes.items():
        setattr(schedule, key, value)
    schedule.user = user
    if branch is not None and schedule.health_check:
        raise InputError({'branch': [_("A run of the script's tests executes in main, not in a branch.")]})
    _set_branch(schedule, branch)
    with inside(branch):
        stored = check_schedule_settings(
            schedule.script, user, schedule.inputs, schedule.start_at, schedule.interval, schedule.cron,
            schedule.health_check, schedule.commit,
        )
    schedule.inputs = stored
    with transaction.atomic():
        schedule.full_clean()
        schedule.save()
        for run in ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING):
            cancel_run(run, user)
        schedule_next_run(schedule)
    schedule.refresh_from_db()
    return schedule


def pause_schedule(schedule, user):
    """Stop making runs: the queued occurrence is cancelled; settings are kept."""
    with transaction.atomic():
        schedule.refresh_from_db()
        schedule.snapshot()
        schedule.enabled, schedule.next_run_at, schedule.job = False, None, None
        schedule.save()  # change-logged
        for run in ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING):
            cancel_run(run, user)
    schedule.refresh_from_db()
    return schedule


def resume_schedule(schedule, user):
    """
    Start making runs again, from now on, as `user`: resuming decides that the schedule runs, so - as for an edit -
    the user resuming it answers for it, with their own permissions (checked now, with its inputs).
    """
    schedule.refresh_from_db()
    branch = schedule_branch(schedule.branch_id, user)
    with inside(branch):
        stored = check_schedule_settings(
            schedule.script, user, schedule.inputs, schedule.start_at, schedule.interval, schedule.cron,
            schedule.health_check, schedule.commit,
        )
    with transaction.atomic():  # a next run that cannot be queued leaves the schedule paused and unchanged
        schedule.snapshot()
        schedule.enabled, schedule.error, schedule.user, schedule.inputs = True, '', user, stored
        schedule.save()  # change-logged
        schedule.refresh_from_db()
        if not ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.ACTIVE).exists():
            schedule_next_run(schedule)
    return schedule


def queue_next_occurrence(run):
    """When a scheduled run ends, queue the schedule's next one (its own run record and request ID)."""
    if run.schedule_id is None:
        return
    schedule = Schedule.objects.filter(pk=run.schedule_id).select_related('script', 'user').first()
    if schedule is None or not schedule.enabled or not schedule.is_recurring:
        return
    if ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING).exists():
        return
    try:
        schedule_next_run(schedule, after=run.scheduled_at or run.started or timezone.now())
    except (PermissionDenied, ValidationError, RunRefused, ValueError) as exc:  # ValueError: a cron with no next time
        message = '; '.join(getattr(exc, 'messages', [str(exc)]))
        logger.warning('Schedule %s could not queue its next run: %s', schedule.pk, message)
        Schedule.objects.filter(pk=schedule.pk).update(error=message[:1000], next_run_at=None, job=None)
