"""
The move from built-in scripts as a background job: the "Apply" button of the page and `POST .../migrate-builtin/`
queue a MigrateBuiltinJob, which runs apply_plan() on a worker and reports its progress on the core Job.

Only one apply is queued or running at a time; a second is refused (MigrationBusy, a 409 in the API) rather than
left to wait on the core's locks, so that the user sees at once that someone else is already moving.

The job's data, read by the page and the API while it runs and after:

    {"only": [...] or null, "history": bool,
     "progress": {"done": int, "total": int, "message": str},
     "result": ApplyResult.to_dict()}          # once apply_plan() returned
"""
import datetime
import threading

import django_rq
from core.choices import JobStatusChoices
from core.exceptions import JobFailed
from core.models import Job
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock
from netbox.jobs import JobRunner
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from ..execution import RunRefused, enqueue_job
from . import MigrationRefused, apply_plan, build_plan, may_migrate

__all__ = (
    'MigrateBuiltinJob',
    'MigrationBusy',
    'active_migration_job',
    'end_dead_migration_jobs',
    'enqueue_apply',
    'normalise_only',
)

# Held from the "is one already queued?" check until the new Job is committed, so two clicks cannot both pass. Not
# the core's lock (held for a whole apply): a request must learn at once that an apply is running.
LOCK_KEY = 'netbox_custom_scripts.migrate-builtin-queue'
# A queued or running job whose RQ job is gone (worker killed, Redis lost its data) for this long is ended, so that
# it does not block every later apply.
RQ_GONE_GRACE = datetime.timedelta(seconds=6)
# A running job beats in Redis every few seconds; one silent for HEARTBEAT_TIMEOUT is dead (a worker killed with
# SIGKILL leaves its RQ job "started" for minutes).
HEARTBEAT_INTERVAL = 2
HEARTBEAT_TIMEOUT = 20
MAX_ONLY_NAMES = 1000
MAX_MODULE_NAME_LENGTH = 255


class MigrationBusy(RunRefused):
    """Another apply is queued or running (RunRefused: the API answers 409)."""


def normalise_only(only):
    """
    `only` as a sorted list of distinct module names, or None for "every module". Raises MigrationRefused for
    something that is not a list of names (the core checks that each name is a built-in module).
    """
    if only is None:
        return None
    if isinstance(only, str):
        only = only.split(',')
    if not isinstance(only, (list, tuple, set)):
        raise MigrationRefused(_('"only" is a list of built-in module names.'))
    names = set()
    for name in only:
        if not isinstance(name, str):
            raise MigrationRefused(_('"only" is a list of built-in module names.'))
        name = name.strip()
        if len(name) > MAX_MODULE_NAME_LENGTH or '\x00' in name:
            raise MigrationRefused(_('"{name}…" is not a module name.').format(name=name[:40].replace('\x00', '')))
        if name:
            names.add(name)
    if len(names) > MAX_ONLY_NAMES:
        raise MigrationRefused(_('"only" names at most {count} modules.').format(count=MAX_ONLY_NAMES))
    # An "only" that names nothing (",", "") is a mistake, not "everything": refused rather than widened.
    if not names:
        raise MigrationRefused(_('"only" names no module; leave it out to move every module.'))
    return sorted(names)


def _rq_job_gone(job):
    try:
        rq_job = RQJob.fetch(str(job.job_id), connection=django_rq.get_connection(job.queue_name or 'default'))
    except NoSuchJobError:
        return True
    return rq_job.get_status(refresh=False) in (
        JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED,
    )


def _heartbeat_key(job_pk):
    return f'netbox_custom_scripts:migrate-builtin:heartbeat:{job_pk}'


def _redis(job):
    return django_rq.get_connection(job.queue_name or 'default')


def _is_dead(job, now):
    if job.created >= now - RQ_GONE_GRACE:
        return False  # just queued: its RQ job may not be enqueued yet (that waits for the commit)
    if job.status == JobStatusChoices.STATUS_RUNNING and (job.started or job.created) < now - RQ_GONE_GRACE:
        if not _redis(job).exists(_heartbeat_key(job.pk)):
            return True
    return _rq_job_gone(job)


def active_migration_job(end_dead=True):
    """
    The apply job that is queued or running, or None. A job whose worker died (its RQ job failed or vanished, or it
    stopped beating) does not count; with `end_dead` it is ended as errored (nothing else would end it). Pages pass
    end_dead=False (a GET writes nothing): the watchdog ends such jobs every minute (end_dead_migration_jobs()).
    """
    now = timezone.now()
    for job in MigrateBuiltinJob.get_jobs().filter(status__in=JobStatusChoices.ENQUEUED_STATE_CHOICES).order_by('pk'):
        if _is_dead(job, now):
            if end_dead:
                _end_dead(job, now)
            continue
        return job
    return None


def end_dead_migration_jobs():
    """End every apply job whose worker died; returns their IDs."""
    now = timezone.now()
    dead = [
        job for job in MigrateBuiltinJob.get_jobs().filter(status__in=JobStatusChoices.ENQUEUED_STATE_CHOICES)
        if _is_dead(job, now)
    ]
    for job in dead:
        _end_dead(job, now)
    return [job.pk for job in dead]


def _end_dead(job, now):
    Job.objects.filter(pk=job.pk, status=job.status).update(
        status=JobStatusChoices.STATUS_ERRORED, completed=now,
        error=_('The worker running this job stopped before it finished. Modules it had not finished '
                'are untouched (each module moves in one transaction); plan again to see where it stands.'),
    )


def enqueue_apply(user, only=None, history=False):
    """
    Queue an apply. Checked here, before anything is queued: the user may migrate (PermissionDenied), `only` names
    built-in modules (MigrationRefused from the core's plan), and no other apply is queued or running
    (MigrationBusy). Returns the core Job.
    """
    if user is None or not user.is_authenticated or not user.is_active or not may_migrate(user):
        raise PermissionDenied(_('{user} may not move the built-in scripts (the "migrate" action on script modules).')
                               .format(user=user))
    only = normalise_only(only)
    history = bool(history)
    build_plan(only=only, history=history)
    with advisory_lock(LOCK_KEY), transaction.atomic():
        busy = active_migration_job()
        if busy is not None:
            raise MigrationBusy(_(
                'Job #{job} is already moving the built-in scripts ({status}); wait for it to finish.'
            ).format(job=busy.pk, status=busy.get_status_display().lower()))
        # The queued payload carries the user's identity only; permissions are read again on the worker.
        job = enqueue_job(MigrateBuiltinJob, user=user, only=only, history=history)
        job.data = {'only': only, 'history': history, 'progress': None, 'result': None}
        job.save(update_fields=['data'])
        return job


class MigrateBuiltinJob(JobRunner):
    """apply_plan() as the requesting user; ends failed when a module could not be moved or the user was refused."""

    class Meta:
        name = 'Move from built-in scripts'

    def _save(self):
        # Written while it runs, so the page's polling sees the progress and the log lines.
        Job.objects.filter(pk=self.job.pk).update(data=self.job.data, log_entries=self.job.log_entries)

    def progress(self, done, total, message):
        self.job.data = {**(self.job.data or {}), 'progress': {'done': done, 'total': total, 'message': message}}
        # NetBox's job log keeps a record's message unformatted: every line is formatted here.
        self.logger.info(f'[{done}/{total}] {message}')
        self._save()

    def run(self, only=None, history=False, *args, **kwargs):
        stop = threading.Event()
        beating = threading.Thread(target=self._beat, args=(stop,), name='migrate-builtin-heartbeat', daemon=True)
        beating.start()
        try:
            self._apply(only, history)
        finally:
            stop.set()
            beating.join(timeout=HEARTBEAT_INTERVAL * 2)
            _redis(self.job).delete(_heartbeat_key(self.job.pk))

    def _beat(self, stop):
        # Redis, not the database: a beat must not wait for (or write into) the transaction of a module being moved.
        connection, key = _redis(self.job), _heartbeat_key(self.job.pk)
        while True:
            try:
                connection.set(key, timezone.now().isoformat(), ex=HEARTBEAT_TIMEOUT)
            except Exception:  # Redis briefly unreachable: the next beat tries again
                pass
            if stop.wait(HEARTBEAT_INTERVAL):
                return

    def _apply(self, only, history):
        self.job.data = {'only': only, 'history': history, 'progress': None, 'result': None}
        user = get_user_model().objects.filter(pk=self.job.user_id, is_active=True).first()
        self.logger.info(
            f"Moving {', '.join(only) if only else 'every module'} from the built-in scripts"
            f"{' with their history' if history else ''}, as {user or 'a deleted or inactive user'}"
        )
        self._save()
        try:
            if user is None:
                raise MigrationRefused(_('The user who queued this job no longer exists or is inactive.'))
            result = apply_plan(user, only=only, history=history, progress=self.progress)
        except MigrationRefused as exc:
            self.logger.error(str(exc))
            self.job.error = str(exc)
            raise JobFailed()
        outcome = result.to_dict()
        self.job.data = {**self.job.data, 'result': outcome}
        for name in outcome.get('moved', []):
            self.logger.info(f'moved: {name}')
        for name in outcome.get('unchanged', []):
            self.logger.info(f'unchanged: {name}')
        for name, error in (outcome.get('failed') or {}).items():
            self.logger.warning(f'not moved: {name}: {error}')
        if outcome.get('failed'):
            self.job.error = _('{count} module(s) could not be moved and stay on the built-in scripts: {names}').format(
                count=len(outcome['failed']), names=', '.join(sorted(outcome['failed'])),
            )
            raise JobFailed()
