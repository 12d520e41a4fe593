"""How a run ends: its outcome, the last of its log, its final status and the run_finished signal."""
import logging
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ..choices import RunStatusChoices
from ..models import ScriptRun
from ..scripting.log import LogEntry
from ..signals import run_finished

__all__ = (
    'DryRunRollback',
    'finish_run',
    'log_line',
    'record_outcome',
    'RunOutcome',
)

logger = logging.getLogger('netbox_custom_scripts.runner')


@dataclass
class RunOutcome:
    status: str
    output: str = ''
    output_format: str = 'text'
    error: str = ''
    traceback: str = ''


def log_line(recorder, level, message):
    recorder.log(LogEntry(level=level, message=message, time=timezone.now()))


def finish_run(run, outcome, recorder):
    """Write the last of the run's record and its final status."""
    if getattr(recorder, 'stopper', None) is not None and recorder.stopper.hard_stopped:
        recorder.stop()
        run.refresh_from_db()
        return run
    try:
        recorder.stop()
    except Exception as exc:
        logger.exception('Could not write the log of run %s', run.pk)
        if outcome.status in (RunStatusChoices.COMPLETED, RunStatusChoices.FAILED):
            outcome = RunOutcome(
                RunStatusChoices.ERRORED, outcome.output, outcome.output_format,
                error=_('The run finished but its log could not be written: {error}').format(error=exc),
            )
    return record_outcome(run, outcome, recorder)


def _bounded_output(outcome):
    """The output, cut at the max_output_size setting (a cut JSON document is text)."""
    limit = get_plugin_config('netbox_custom_scripts', 'max_output_size')
    if len(outcome.output) <= limit:
        return outcome.output, outcome.output_format
    cut = len(outcome.output) - limit
    return (f'{outcome.output[:limit]}\n[... {cut} more characters cut: the output is longer than max_output_size; '
            f'attach large results to the run with save_file()]'), 'text'


def record_outcome(run, outcome, recorder, only_if_running=False):
    """The run's final status and totals, and the run_finished signal."""
    now = timezone.now()
    output, output_format = _bounded_output(outcome)
    final = {
        'status': outcome.status,
        'completed': now,
        'heartbeat': now,
        'output': output,
        'output_format': output_format,
        'error': outcome.error[:10000],
        'traceback': outcome.traceback,
        'log_counts': dict(recorder.counts),
        'change_count': recorder.change_count,
    }
    if recorder.progress_written is not None:
        done, total, message = recorder.progress_written
        final.update(progress_done=done, progress_total=total, progress_message=message)
    runs = ScriptRun.objects.filter(pk=run.pk)
    if only_if_running and not runs.filter(status=RunStatusChoices.RUNNING).update(**final):
        return run
    if not only_if_running:
        runs.update(**final)
    for field, value in final.items():
        setattr(run, field, value)
    run_finished.send(sender=ScriptRun, run=run)
    return run


class DryRunRollback(Exception):
    pass
