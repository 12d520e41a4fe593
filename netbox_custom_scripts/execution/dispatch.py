"""
The only place jobs are enqueued. Adapters (views, API, CLI, event rules) call these functions; none of them
touches a JobRunner directly.
"""
from ..jobs import SyncModulesJob
from .modules import plugin_settings

__all__ = (
    'enqueue_directory_sync',
)


def enqueue_directory_sync(user):
    """Queue a SyncModulesJob. Returns the core Job, or None when no scripts directory is configured."""
    if not plugin_settings()['scripts_dir']:
        return None
    return SyncModulesJob.enqueue(user=user, queue_name=plugin_settings()['default_queue'])
