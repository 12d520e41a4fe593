"""
The plugin's system jobs (NetBox runs them on its own schedule). The jobs that carry out runs, syncs and
activations live in the core (execution/worker.py); runs are NetBox jobs, so they appear in NetBox's job list,
use its queues and scale out with more `netbox rqworker` processes.
"""
import datetime
import logging

from core.choices import JobIntervalChoices, JobStatusChoices
from django.utils import timezone
from netbox.jobs import JobRunner, system_job
from netbox.plugins import get_plugin_config

from .choices import RunStatusChoices

# Re-exported: jobs queued before the worker moved into the core name them here (RQ resolves the path on start).
from .execution import ActivateRevisionJob, RunScriptJob, SyncModulesJob, reap_stale_runs, sync_directory
from .migrate_builtin.job import end_dead_migration_jobs
from .models import ScriptRun

logger = logging.getLogger('netbox_custom_scripts.jobs')

__all__ = (
    'ActivateRevisionJob',
    'RunHousekeepingJob',
    'RunScriptJob',
    'RunWatchdogJob',
    'ScriptsDirectoryWatchJob',
    'SyncModulesJob',
)


@system_job(interval=1)
class RunWatchdogJob(JobRunner):
    """
    Every minute: mark runs whose worker died as errored, and runs whose job was deleted as cancelled; end built-in
    migration jobs whose worker died.
    """

    class Meta:
        name = 'Custom scripts watchdog'

    def run(self, *args, **kwargs):
        changed = reap_stale_runs()
        if changed:
            self.logger.warning('Marked runs %s as ended', ', '.join(map(str, changed)))
        if ended := end_dead_migration_jobs():
            self.logger.warning('Ended built-in migration jobs %s: their worker stopped', ', '.join(map(str, ended)))
        # Keep the job list readable: one record of this job is enough.
        type(self).get_jobs().filter(status=JobStatusChoices.STATUS_COMPLETED).exclude(pk=self.job.pk).delete()


class ScriptsDirectoryWatchJob(JobRunner):
    """
    Every scripts_dir_sync_interval minutes: register what changed in the scripts directory (a stat of each file
    when nothing did). A system job only while that setting and scripts_dir are set (see schedule_directory_sync()).
    """

    class Meta:
        name = 'Custom scripts directory watch'

    def run(self, *args, **kwargs):
        result = sync_directory()
        if result is not None:
            for kind in ('created', 'updated', 'missing'):
                for name in getattr(result, kind):
                    self.logger.info('%s: %s', kind, name)
        type(self).get_jobs().filter(status=JobStatusChoices.STATUS_COMPLETED).exclude(pk=self.job.pk).delete()


def schedule_directory_sync():
    """Make ScriptsDirectoryWatchJob a system job at the configured interval (from ready(), once settings are read)."""
    interval = get_plugin_config('netbox_custom_scripts', 'scripts_dir_sync_interval')
    if interval and get_plugin_config('netbox_custom_scripts', 'scripts_dir'):
        system_job(interval=interval)(ScriptsDirectoryWatchJob)


@system_job(interval=JobIntervalChoices.INTERVAL_DAILY)
class RunHousekeepingJob(JobRunner):
    """Daily: delete runs older than the run_retention_days setting."""

    class Meta:
        name = 'Custom scripts housekeeping'

    def run(self, *args, **kwargs):
        days = get_plugin_config('netbox_custom_scripts', 'run_retention_days')
        if not days:
            return
        cutoff = timezone.now() - datetime.timedelta(days=days)
        deleted, _ = ScriptRun.objects.filter(created__lt=cutoff, status__in=RunStatusChoices.TERMINAL).delete()
        self.logger.info('Deleted %s runs older than %s days', deleted, days)
