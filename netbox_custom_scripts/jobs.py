"""
RQ jobs of the plugin. Thin wrappers: the work lives in the execution core. Runs are NetBox jobs, so they appear
in NetBox's job list, use its queues and scale out with more `netbox rqworker` processes.
"""
import datetime
import logging

from core.choices import JobIntervalChoices, JobStatusChoices
from core.exceptions import JobFailed
from core.models import Job
from django.conf import settings
from django.utils import timezone
from netbox.jobs import JobRunner, system_job

from .choices import RunStatusChoices
from .execution.modules import sync_directory
from .execution.runner import execute_queued_run, hard_stop_exit
from .execution.watchdog import reap_stale_runs
from .models import ScriptRun

logger = logging.getLogger('netbox_custom_scripts.jobs')

__all__ = (
    'ActivateRevisionJob',
    'RunHousekeepingJob',
    'RunScriptJob',
    'RunWatchdogJob',
    'SyncModulesJob',
)


class ScriptRunErrored(Exception):
    """Makes the core Job "errored" when its run errored or timed out."""


class RunScriptJob(JobRunner):
    """Execute one ScriptRun. Its status maps onto the core Job: completed; failed (failures logged, aborted,
    cancelled); errored (exception, timeout)."""

    class Meta:
        name = 'Run custom script'

    @classmethod
    def handle(cls, job, *args, **kwargs):
        # RQ can deliver a job again after it ran (a Redis restored from an older snapshot), carrying the Job as it
        # was queued: JobRunner.handle() would restart and re-terminate it. Only a Job still waiting is run.
        if not Job.objects.filter(
            pk=job.pk, status__in=(JobStatusChoices.STATUS_PENDING, JobStatusChoices.STATUS_SCHEDULED)
        ).exists():
            logger.warning('Job %s was delivered again after it started; leaving it as it is', job.pk)
            return
        super().handle(job, *args, **kwargs)

    def run(self, run_id, sealed_secrets=None, files=None, request=None, job_timeout=None, **kwargs):
        rq_job = _current_rq_job(self.job)
        run = execute_queued_run(
            run_id, self.job, sealed_secrets=sealed_secrets, files=files, request=request,
            # RQ enforces the limit in a work-horse; a run executing in this process (CLI, nbshell) needs its own.
            time_limit=rq_job.timeout if rq_job is not None else job_timeout,
            enforce_time_limit=rq_job is None,
            # A script that will not stop is stopped hard; a work-horse then exits, freeing its worker.
            exit_process=hard_stop_exit(1) if rq_job is not None else in_process_hard_stop_exit,
        )
        if run is None:
            self.job.data = {'run': run_id, 'status': 'not started'}
            return
        self.job.data = {'run': run.pk, 'status': run.status}
        if run.status in (RunStatusChoices.ERRORED, RunStatusChoices.TIMED_OUT):
            if run.traceback:
                self.logger.error(run.traceback)
            raise ScriptRunErrored(run.error)
        if run.status not in (RunStatusChoices.COMPLETED, RunStatusChoices.AWAITING_APPROVAL):
            self.job.error = run.error or run.get_status_display()
            raise JobFailed()


def _current_rq_job(job):
    """The RQ job executing `job` in this work-horse, or None when it runs in this process (CLI, nbshell)."""
    from rq import get_current_job

    current = get_current_job()
    return current if current is not None and current.id == str(job.job_id) else None


# Set by a process that runs scripts itself and may end when one will not stop (the CLI); None elsewhere (nbshell).
in_process_hard_stop_exit = None


class SyncModulesJob(JobRunner):
    """Re-read the scripts directory and register what changed (the "Sync" button and API action)."""

    class Meta:
        name = 'Sync custom script modules'

    def run(self, *args, **kwargs):
        result = sync_directory(user=self.job.user, force=True)
        if result is None:
            self.logger.warning('No scripts directory is configured (setting scripts_dir); nothing to sync.')
            self.job.data = {'configured': False}
            return
        for kind in ('created', 'updated', 'missing'):
            for name in getattr(result, kind):
                self.logger.info('%s: %s', kind, name)
        for name, error in result.errors.items():
            self.logger.warning('%s: %s', name, error)
        self.job.data = {
            'configured': True,
            'created': result.created,
            'updated': result.updated,
            'missing': result.missing,
            'errors': result.errors,
        }


class ActivateRevisionJob(JobRunner):
    """Import a module's pending revision from its data source and make it current (the "Activate" button)."""

    class Meta:
        name = 'Activate custom script module revision'

    def run(self, module_id, revision_id=None, *args, **kwargs):
        from django.contrib.auth import get_user_model

        from .execution.sources import activate_pending_revision
        from .models import ScriptModule

        # The job carries the user's identity only; their permissions are read from the database here.
        user = get_user_model().objects.filter(pk=self.job.user_id, is_active=True).first()
        module = activate_pending_revision(ScriptModule.objects.get(pk=module_id), user, revision_id)
        self.logger.info('Module %s now runs revision %s (%s)', module.name, module.current_revision.number,
                         module.get_status_display())
        if module.error:
            self.logger.warning('%s', module.error)
        self.job.data = {'module': module.pk, 'revision': module.current_revision.number, 'status': module.status}


@system_job(interval=1)
class RunWatchdogJob(JobRunner):
    """Every minute: mark runs whose worker died as errored, and runs whose job was deleted as cancelled."""

    class Meta:
        name = 'Custom scripts watchdog'

    def run(self, *args, **kwargs):
        changed = reap_stale_runs()
        if changed:
            self.logger.warning('Marked runs %s as ended', ', '.join(map(str, changed)))
        # Keep the job list readable: one record of this job is enough.
        type(self).get_jobs().filter(status__in=('completed',)).exclude(pk=self.job.pk).delete()


@system_job(interval=JobIntervalChoices.INTERVAL_DAILY)
class RunHousekeepingJob(JobRunner):
    """Daily: delete runs older than the run_retention_days setting."""

    class Meta:
        name = 'Custom scripts housekeeping'

    def run(self, *args, **kwargs):
        days = settings.PLUGINS_CONFIG['netbox_custom_scripts']['run_retention_days']
        if not days:
            return
        cutoff = timezone.now() - datetime.timedelta(days=days)
        deleted, _ = ScriptRun.objects.filter(created__lt=cutoff, status__in=RunStatusChoices.TERMINAL).delete()
        self.logger.info('Deleted %s runs older than %s days', deleted, days)
