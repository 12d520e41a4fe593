"""
Keeping run records truthful when the process running them disappears.

A running run's recorder thread updates its heartbeat every few seconds. A run whose heartbeat stopped (its worker
was killed, its host went away) is marked errored; a run whose core Job was deleted before it started is marked
cancelled; a waiting run whose RQ job vanished (the tasks Redis lost its data) is marked errored. The core Job of a
run ended here is ended too. reap_stale_runs() is cheap and is called from the watchdog system job and from the
recorder threads of other runs; no page view calls it (a GET writes nothing).
"""
import datetime

import django_rq
from core.choices import JobStatusChoices
from core.models import Job
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from ..choices import RunStatusChoices
from ..models import ScriptRun

__all__ = (
    'HEARTBEAT_TIMEOUT',
    'reap_stale_runs',
)

# A running run that has not beaten for this long is dead: the recorder beats every 2 seconds.
HEARTBEAT_TIMEOUT = datetime.timedelta(seconds=20)
# Grace for a run whose RQ job already failed or vanished (the worker noticed its work-horse died).
RQ_GONE_GRACE = datetime.timedelta(seconds=6)


def _rq_job_gone(run):
    if run.job is None:
        return True
    try:
        rq_job = RQJob.fetch(str(run.job.job_id), connection=django_rq.get_connection(run.job.queue_name or 'default'))
    except NoSuchJobError:
        return True
    return rq_job.get_status(refresh=False) in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def _end_job(run, now, error):
    """End the core Job of a run the watchdog ended: no worker will."""
    if run.job_id:
        Job.objects.filter(pk=run.job_id, status__in=JobStatusChoices.ENQUEUED_STATE_CHOICES).update(
            status=JobStatusChoices.STATUS_ERRORED, completed=now, error=error,
        )


def reap_stale_runs(runs=None):
    """Mark dead running runs errored and orphaned waiting runs cancelled. Returns the runs it changed."""
    now = timezone.now()
    queryset = ScriptRun.objects.select_related('job') if runs is None else runs.select_related('job')
    changed = []
    running = queryset.filter(status=RunStatusChoices.RUNNING).filter(
        Q(heartbeat__lt=now - RQ_GONE_GRACE) | Q(heartbeat__isnull=True)
    )
    for run in running:
        silent_since = run.heartbeat or run.started or run.created
        dead = now - silent_since > HEARTBEAT_TIMEOUT or _rq_job_gone(run)
        still_silent = ScriptRun.objects.filter(pk=run.pk, status=RunStatusChoices.RUNNING, heartbeat=run.heartbeat)
        error = _('The worker running this script stopped (no sign of life since {time}). Its changes were '
                  'rolled back; the log is kept up to the last line it wrote.').format(time=silent_since.isoformat())
        if dead and still_silent.update(status=RunStatusChoices.ERRORED, completed=now, error=error):
            _end_job(run, now, error)
            changed.append(run.pk)
    orphaned = queryset.filter(status__in=RunStatusChoices.WAITING, job__isnull=True, created__lt=now - RQ_GONE_GRACE)
    for run in orphaned:
        if ScriptRun.objects.filter(pk=run.pk, status__in=RunStatusChoices.WAITING, job__isnull=True).update(
            status=RunStatusChoices.CANCELLED, completed=now, error=_('Its job was deleted before it started.'),
        ):
            changed.append(run.pk)
    # A waiting run whose RQ job is gone - the tasks Redis crashed or restarted without persistence - would wait
    # forever: nothing is left that could run it.
    queued = queryset.filter(status__in=RunStatusChoices.WAITING, job__isnull=False, created__lt=now - RQ_GONE_GRACE)
    error = _('Its job was lost from the queue before it started (the tasks Redis lost its data). Nothing was run; '
              'run it again.')
    for run in queued:
        if _rq_job_gone(run) and ScriptRun.objects.filter(
            pk=run.pk, status__in=RunStatusChoices.WAITING, job_id=run.job_id
        ).update(status=RunStatusChoices.ERRORED, completed=now, error=error):
            _end_job(run, now, error)
            changed.append(run.pk)
    return changed
