"""
Running one ScriptRun: the transaction, commit or dry-run rollback, the outcome, and the run record.

`run()` executes in one database transaction with NetBox's change logging switched on, attributed to the run's
user and request ID - for dry runs too, so the changes a dry run would make are recorded before they are rolled
back. A dry run, AbortScript, an uncaught exception, a timeout or a cancel roll back everything the script did
(signals and nested savepoints included); a committed run commits all of it or nothing.
"""
import json
import logging
import traceback
from contextlib import ExitStack

from core.models import ObjectChange
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils.translation import gettext as _
from rq.timeouts import JobTimeoutException

from ..choices import LogLevelChoices, RunStatusChoices
from ..scripting.exceptions import AbortScriptBase as AbortScript  # NetBox's while NetBox has one (not 5.0)

__all__ = (
    'run_script',
)
from .changes import ChangeWatcher, change_record, change_tracking
from .errors import RunRefused
from .interrupts import RunCancelled, cancel_interrupted_query, cancel_signal
from .outcome import DryRunRollback, RunOutcome, log_line

logger = logging.getLogger('netbox_custom_scripts.runner')


class _TransactionEndedByScript(Exception):
    """The script ran COMMIT or ROLLBACK itself: the run's transaction is not the one it started with."""


def _transaction_ended_message():
    return _(
        "The script ended the run's database transaction itself (COMMIT or ROLLBACK in SQL): what it did before that "
        'was committed or discarded then, and cannot be rolled back with the rest.'
    )


def _format_output(value):
    if value is None:
        return '', 'text'
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, indent=2, sort_keys=False, default=str), 'json'
    return str(value), 'text'


def _atomic(databases):
    """One transaction per database the script writes to (main, and a netbox-branching branch's connection)."""
    stack = ExitStack()
    for alias in databases:
        stack.enter_context(transaction.atomic(using=alias))
    return stack


def run_script(run, script_class, data, request, recorder, stopper=None, databases=(DEFAULT_DB_ALIAS,), hold=None):
    """
    Execute the script of `run` with cleaned `data`. Returns a RunOutcome; never raises for anything the script
    does. Inside a caller's transaction (the test helper) the run's transaction is a savepoint of it. With a
    RunStopper, a run past its time limit or cancelled never commits, and one that will not stop is stopped hard.
    `databases`: the connections the run's transaction spans (a run in a branch writes through the branch's);
    `hold()` is called first inside it (a branch run locks its branch there) and may refuse the run (RunRefused).
    """
    script = script_class()
    script.request = request
    script._run_event = run.event  # behind the `event` property: a variable or attribute `event` stays the author's
    script._reporter = recorder
    commit = run.commit
    outcome = None
    watcher = ChangeWatcher(request.id)
    if stopper is not None:
        stopper.attach(watcher)

    try:
        with cancel_signal(recorder, stopper), watcher, change_tracking(request, commit):
            with _atomic(databases):
                if hold is not None:
                    hold()
                if stopper is not None:
                    stopper.note_transaction_start()
                with cancel_interrupted_query():
                    value = script.run(data, commit)
                if stopper is not None and stopper.transaction_replaced():
                    raise _TransactionEndedByScript()
                if watcher.changes:  # read back: m2m changes update a change after the watcher saw it
                    changes = ObjectChange.objects.filter(request_id=request.id).order_by('pk')
                    recorder.record_changes([change_record(change) for change in changes])
                output, output_format = _format_output(value)
                status = RunStatusChoices.FAILED if script.failed else RunStatusChoices.COMPLETED
                outcome = RunOutcome(status, output, output_format)
                if stopper is not None:
                    stopper.before_end(commit)
                if not commit:
                    raise DryRunRollback()
        if commit and outcome.status == RunStatusChoices.COMPLETED:
            log_line(recorder, LogLevelChoices.INFO, _('Changes committed.'))
    except RunRefused as exc:
        log_line(recorder, LogLevelChoices.WARNING, str(exc))
        outcome = RunOutcome(RunStatusChoices.REFUSED, error=str(exc))
    except DryRunRollback:
        log_line(recorder, LogLevelChoices.INFO, _('Dry run: all changes were rolled back.'))
    except _TransactionEndedByScript:
        recorder.record_changes(list(watcher.changes.values()))
        log_line(recorder, LogLevelChoices.FAILURE, _transaction_ended_message())
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=_transaction_ended_message())
    except AbortScript as exc:
        recorder.record_changes(list(watcher.changes.values()))
        message = str(exc)
        log_line(recorder, LogLevelChoices.FAILURE, _('Aborted: {message}').format(message=message))
        outcome = RunOutcome(RunStatusChoices.ABORTED, error=message)
    except JobTimeoutException as exc:
        recorder.record_changes(list(watcher.changes.values()))
        message = _('The run exceeded its time limit ({limit} s); all changes were rolled back.').format(
            limit=run.job_timeout or '?'
        )
        log_line(recorder, LogLevelChoices.FAILURE, message)
        outcome = RunOutcome(RunStatusChoices.TIMED_OUT, error=str(exc) or message)
    except RunCancelled:
        recorder.record_changes(list(watcher.changes.values()))
        message = _('Cancelled while running; all changes were rolled back.')
        log_line(recorder, LogLevelChoices.WARNING, message)
        outcome = RunOutcome(RunStatusChoices.CANCELLED, error=message)
    except (Exception, SystemExit) as exc:
        recorder.record_changes(list(watcher.changes.values()))
        error = f'{type(exc).__name__}: {exc}'
        log_line(recorder, LogLevelChoices.FAILURE, _('An exception occurred: `{error}`').format(error=error))
        log_line(recorder, LogLevelChoices.INFO, _('All changes were rolled back.'))
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=error, traceback=traceback.format_exc())
    finally:
        if stopper is not None:
            stopper.finished()
    if stopper is not None and stopper.hard_stopped:
        # Recorded by the stopper; this thread's database session is gone.
        connection.close()
    return outcome


