"""RQ jobs of the plugin. Thin wrappers: the work itself lives in the execution core."""
from netbox.jobs import JobRunner

from .execution.modules import sync_directory

__all__ = (
    'SyncModulesJob',
)


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
