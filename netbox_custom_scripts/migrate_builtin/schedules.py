"""
Schedules: a built-in job waiting for its time (a one-off `schedule_at`, or a recurring `interval`) becomes a plugin
schedule with the same time, interval, user, inputs and commit flag; the built-in job is then deleted - its row in
the module's transaction, its RQ job (what would actually run) once that transaction has committed - so nothing
runs twice.

Stock NetBox keeps a waiting job's inputs only in its RQ job's arguments (`data`, `commit`), as cleaned form values
(objects, query sets, addresses); they are turned back into the plain values a run's inputs take. A job whose RQ job
is gone (Redis flushed) has no inputs left and is not moved.
"""
import datetime
import decimal
import logging
from dataclasses import dataclass

import django_rq
from core.choices import JobStatusChoices
from core.models import Job, ObjectType
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..execution import SECRET_MASK, create_schedule
from ..models import Schedule, Script

__all__ = ('ScheduleMove', 'move_schedule', 'plan_schedules', 'running_interval_jobs', 'waiting_jobs')

logger = logging.getLogger('netbox_custom_scripts.migrate_builtin')

WAITING = (JobStatusChoices.STATUS_PENDING, JobStatusChoices.STATUS_SCHEDULED)
MARKER = 'Moved from built-in scripts: job #{id}'


def marker(job_id):
    return MARKER.format(id=job_id)


def _script_type():
    from extras.models import Script as BuiltinScript

    return ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False)


def waiting_jobs(builtin_module):
    return Job.objects.filter(
        object_type=_script_type(), object_id__in=builtin_module.scripts.values_list('pk', flat=True),
        status__in=WAITING,
    ).filter(models.Q(scheduled__isnull=False) | models.Q(interval__isnull=False)).select_related('user').order_by('pk')


def running_interval_jobs(builtin_module):
    return Job.objects.filter(
        object_type=_script_type(), object_id__in=builtin_module.scripts.values_list('pk', flat=True),
        status=JobStatusChoices.STATUS_RUNNING, interval__isnull=False,
    ).order_by('pk')


def _plain(value):
    """A cleaned form value (as stock keeps it in the RQ job) as a run input value."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet):
        return list(value.values_list('pk', flat=True))
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return str(value)  # netaddr IPNetwork / IPAddress and the like: their text form


def rq_arguments(job):
    """(inputs, commit) from the built-in job's RQ job, or None when the RQ job no longer exists."""
    rq_job = django_rq.get_queue(job.queue_name or 'default').fetch_job(str(job.job_id))
    if rq_job is None:
        return None
    kwargs = rq_job.kwargs or {}
    data = {key: _plain(value) for key, value in (kwargs.get('data') or {}).items() if not key.startswith('_')}
    return data, bool(kwargs.get('commit', True))


@dataclass
class ScheduleMove:
    job: Job
    class_name: str
    inputs: dict
    commit: bool


def _describe(job):
    if job.interval:
        when = _('every {n} min from {start}').format(n=job.interval, start=job.scheduled or _('now'))
    else:
        when = _('once at {time}').format(time=job.scheduled)
    return when


def plan_schedules(plan):
    from extras.models import Script as BuiltinScript

    names = dict(BuiltinScript.objects.filter(module=plan.builtin).values_list('pk', 'name'))
    for job in running_interval_jobs(plan.builtin):
        # Stock re-queues an interval job when it finishes: moving now would leave that next occurrence behind.
        plan.add('schedule', _('recurring job #{id} of {script} (running now, every {interval} min)').format(
            id=job.pk, script=f'{plan.name}.{names.get(job.object_id)}', interval=job.interval), job.pk,
            'cannot_move', _('plugin schedule of {script}').format(script=f'{plan.name}.{names.get(job.object_id)}'),
            _('It is running now; when it finishes NetBox schedules its next occurrence, which a later apply moves. '
              'Apply again after it has finished.'))
    for job in waiting_jobs(plan.builtin):
        class_name = names.get(job.object_id)
        label = _('scheduled job #{id} of {script} ({when}, user {user})').format(
            id=job.pk, script=f'{plan.name}.{class_name}', when=_describe(job), user=job.user or '?')
        target = _('plugin schedule of {script}').format(script=f'{plan.name}.{class_name}')
        if Schedule.objects.filter(description=marker(job.pk)).exists():
            # Moved, but the built-in job is back (a failed delete): it would run twice.
            plan.add('schedule', label, job.pk, 'cannot_move', target, _(
                'Already moved, yet the built-in job still exists: delete it so the script does not run twice.'))
            continue
        if job.user is None:
            plan.add('schedule', label, job.pk, 'cannot_move', target, _('The job has no user to run as.'))
            continue
        arguments = rq_arguments(job)
        if arguments is None:
            plan.add('schedule', label, job.pk, 'cannot_move', target, _(
                'Its queued RQ job no longer exists, and with it its inputs; it would never run on the built-in '
                'side either. Delete it, and create a plugin schedule by hand.'))
            continue
        inputs, commit = arguments
        secret = plan.secret_inputs.get(class_name, set())
        shown = {name: SECRET_MASK if name in secret else value for name, value in inputs.items()}
        if given := sorted(name for name in secret if inputs.get(name) not in (None, '', [], {})):
            # The plugin never stores secret inputs, so a schedule cannot keep them; the built-in job stays.
            plan.add('schedule', label, job.pk, 'cannot_move', target, _(
                'Its inputs include secret variables ({names}), which the plugin never stores, so a schedule cannot '
                'keep them. Delete the built-in job and run the script by hand, or drop the secret from its '
                'inputs.').format(names=', '.join(given)))
            continue
        plan.add('schedule', label, job.pk, 'move', target, _(
            'Inputs {inputs}, commit {commit}; the built-in job is deleted.').format(inputs=shown, commit=commit))
        plan.schedules.append(ScheduleMove(job, class_name, inputs, commit))


def move_schedule(plan, move):
    """Create the plugin schedule and delete the built-in job (its RQ job once the transaction commits)."""
    job = move.job
    script = Script.objects.get(module__name=plan.name, class_name=move.class_name)
    now = timezone.now()
    start_at = job.scheduled if job.scheduled and job.scheduled > now else None
    if not job.interval and start_at is None:
        # A one-off run whose time passed while it waited (no worker?): it runs as soon as possible, as it would have.
        start_at = now + datetime.timedelta(seconds=5)
    schedule = create_schedule(
        script, user=job.user, inputs=move.inputs, commit=move.commit, start_at=start_at, interval=job.interval,
        name=(job.name or script.name), description=marker(job.pk), notifications=job.notifications or None,
    )
    queue_name, rq_id = job.queue_name or 'default', str(job.job_id)
    Job.objects.filter(pk=job.pk).delete()  # not Job.delete(): that cancels the RQ job before the commit

    def remove_rq_job():
        queue = django_rq.get_queue(queue_name)
        rq_job = queue.fetch_job(rq_id)
        if rq_job is not None:
            queue.scheduled_job_registry.remove(rq_job)
            rq_job.delete()

    transaction.on_commit(remove_rq_job)
    return schedule
