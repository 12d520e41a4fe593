from django.dispatch import Signal

__all__ = (
    'module_data_changed',
    'run_finished',
    'schedule_deleting',
)

# Sent with the finished ScriptRun (sender=ScriptRun, run=...) once its final status is recorded.
run_finished = Signal()

# Sent by ScriptModule.sync_data() (sender=ScriptModule, module=...) when NetBox saw its Data Source file change:
# the core re-reads the file (models call no engine code).
module_data_changed = Signal()

# Sent by Schedule.delete() (sender=Schedule, schedule=...) while the schedule still has its runs: NetBox's own
# pre_delete handling detaches them (schedule=None) before any receiver of ours would see them.
schedule_deleting = Signal()
