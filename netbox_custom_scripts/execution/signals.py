from django.dispatch import Signal

__all__ = (
    'run_finished',
)

# Sent with the finished ScriptRun (sender=ScriptRun, run=...) once its final status is recorded.
run_finished = Signal()
