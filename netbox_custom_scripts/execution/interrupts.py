"""
Stopping a run that should stop: a cancel (a signal in the main thread, an exception in another), a time limit
outside RQ work-horses, and RunStopper, which keeps the end truthful when the script will not stop by itself.
"""
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from core.choices import JobStatusChoices
from core.models import Job
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg import pq
from rq.timeouts import JobTimeoutException

from ..choices import LogLevelChoices, RunStatusChoices
from ..models import ScriptRun
from .outcome import RunOutcome, log_line, record_outcome

__all__ = (
    'cancel_interrupted_query',
    'CANCEL_SIGNAL',
    'cancel_signal',
    'enforced_time_limit',
    'hard_stop_exit',
    'RunCancelled',
    'RunStopper',
)

logger = logging.getLogger('netbox_custom_scripts.runner')


# Raised in the script's thread when someone cancels the run. A BaseException, so that a script's own
# `except Exception` cannot swallow it.
CANCEL_SIGNAL = signal.SIGUSR2


class RunCancelled(BaseException):
    pass


@contextmanager
def cancel_signal(recorder, stopper=None):
    """
    Let the recorder's thread interrupt the script when the run is cancelled: with a signal in the main thread
    (it wakes a script that sleeps or waits on I/O), otherwise with an exception raised in the script's thread.
    Not once the script is committing: the commit goes through, and the run ends as it committed.
    """
    if not hasattr(recorder, 'cancel_seen'):
        yield
        return

    def may_interrupt():
        return stopper is None or stopper.may_interrupt()

    if threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            if recorder.cancel_seen and may_interrupt():
                raise RunCancelled()

        previous = signal.signal(CANCEL_SIGNAL, handler)
        recorder.on_cancel = lambda: os.kill(os.getpid(), CANCEL_SIGNAL)
        try:
            yield
        finally:
            recorder.on_cancel = None
            signal.signal(CANCEL_SIGNAL, previous)
    else:
        thread_id = threading.get_ident()
        recorder.on_cancel = lambda: may_interrupt() and ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread_id), ctypes.py_object(RunCancelled)
        )
        try:
            yield
        finally:
            recorder.on_cancel = None


@contextmanager
def cancel_interrupted_query():
    """
    psycopg cancels a running query only on KeyboardInterrupt and SystemExit. A timeout or a cancel that interrupts
    the script while it waits inside PostgreSQL would leave the query running on the server - holding the run's
    locks until it ends - and the rollback would fail: cancel the query and read its result, so the rollback works.
    """
    try:
        yield
    except BaseException:
        raw = connection.connection
        if raw is not None and raw.info.transaction_status == pq.TransactionStatus.ACTIVE:
            try:
                raw.cancel_safe(timeout=5)
                while raw.pgconn.get_result() is not None:
                    pass
            except Exception:
                logger.warning('Could not cancel the interrupted query; dropping the connection', exc_info=True)
                connection.close()
        raise


class RunStopper:
    """
    Keeps a run's end truthful when its script does not stop by itself. Once the run's time limit has passed or a
    cancel was requested, it never commits: that is checked right before the commit, whatever the script caught.
    A script still running `grace` seconds later (it caught the interruption, or it is blocked in C code where no
    exception reaches it) is stopped hard from the recorder's thread: its database session is ended, so PostgreSQL
    rolls back its transaction; its outcome is recorded with its log; and in a work-horse (or the CLI) its process
    exits, so the worker is free again.
    """

    def __init__(self, run, recorder, *, timeout=None, grace=10, exit_process=None):
        self.run = run
        self.recorder = recorder
        self.deadline = time.monotonic() + timeout if timeout else None
        self.timeout = timeout
        self.grace = grace
        # Called with the recorded run after a hard stop; it ends the process (see hard_stop_exit()).
        self.exit_process = exit_process
        self.watcher = None
        self.backend_pid = None
        self.committing = False
        self.done = False
        self.hard_stopped = False
        self.transaction_started = None
        self._cancel_seen_at = None
        self._lock = threading.Lock()

    def attach(self, watcher):
        """In the script's thread, before it runs: the database session a hard stop ends."""
        self.watcher = watcher
        connection.ensure_connection()
        self.backend_pid = connection.connection.info.backend_pid

    def note_transaction_start(self):
        """In the script's thread, inside the run's transaction: when it started (to tell if the script ends it)."""
        with connection.cursor() as cursor:
            cursor.execute('SELECT now()')
            self.transaction_started = cursor.fetchone()[0]

    def transaction_replaced(self):
        """In the script's thread: whether the script committed or rolled back the run's transaction itself."""
        if self.transaction_started is None:
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute('SELECT now()')
                return cursor.fetchone()[0] != self.transaction_started
        except DatabaseError:  # a broken transaction: the run rolls back anyway
            return False

    def _session_transaction_replaced(self):
        """From the recorder's thread: the same, read from the script's database session."""
        if self.transaction_started is None or not self.backend_pid:
            return False
        with connection.cursor() as cursor:
            cursor.execute('SELECT xact_start FROM pg_stat_activity WHERE pid = %s', [self.backend_pid])
            row = cursor.fetchone()
        return row is not None and row[0] != self.transaction_started

    def _reason(self, fresh=False):
        if self.recorder.cancel_seen or (fresh and ScriptRun.objects.filter(
            pk=self.run.pk, cancel_requested__isnull=False
        ).exists()):
            return RunStatusChoices.CANCELLED
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return RunStatusChoices.TIMED_OUT
        return None

    def before_end(self, commit):
        """
        In the script's thread, after run() returned and right before the transaction commits (or a dry run rolls
        back): refuse to end as if nothing happened once the time limit passed or a cancel was requested.
        """
        # Asking the database costs a query; a dry run rolls back anyway, so the recorder's last look must do.
        reason = self._reason(fresh=commit)
        with self._lock:
            if self.hard_stopped or reason == RunStatusChoices.CANCELLED:
                raise RunCancelled()
            if reason == RunStatusChoices.TIMED_OUT:
                raise JobTimeoutException(_('The time limit passed before the run could commit.'))
            if commit:
                self.committing = True
        if commit and threading.current_thread() is threading.main_thread():
            # No timeout may interrupt the commit itself (it would report a rollback that did not happen).
            signal.alarm(0)

    def finished(self):
        with self._lock:
            self.committing = False
            self.done = True

    def may_interrupt(self):
        """Whether a cancel may still be raised in the script (not once it is committing or done)."""
        return not (self.committing or self.done)

    def check(self):
        """From the recorder's thread, every few tenths of a second: stop the script hard once it is overdue."""
        if self.done or self.hard_stopped:
            return
        now = time.monotonic()
        if self.recorder.cancel_seen and self._cancel_seen_at is None:
            self._cancel_seen_at = now
        since = self._cancel_seen_at
        if since is None and self.deadline is not None and now >= self.deadline:
            since = self.deadline
        if since is None or now - since < self.grace:
            return
        with self._lock:
            if self.committing or self.done:
                return
            self.hard_stopped = True
        self._hard_stop(RunStatusChoices.CANCELLED if self._cancel_seen_at is not None else RunStatusChoices.TIMED_OUT)

    def _hard_stop(self, status):
        run = self.run
        logger.warning('Run %s is still running %s s after it was %s; stopping it hard', run.pk, self.grace,
                       'cancelled' if status == RunStatusChoices.CANCELLED else 'timed out')
        try:
            replaced = self._session_transaction_replaced()
        except DatabaseError:
            replaced = False
        if self.backend_pid:
            try:
                with connection.cursor() as cursor:
                    cursor.execute('SELECT pg_terminate_backend(%s)', [self.backend_pid])
            except DatabaseError:
                logger.exception('Could not end the database session of run %s', run.pk)
        if status == RunStatusChoices.CANCELLED:
            stopped = _('Cancelled, and still running {grace} s later: stopped hard.').format(grace=self.grace)
        else:
            stopped = _('The run exceeded its time limit ({limit} s) and was still running {grace} s later: stopped '
                        'hard.').format(limit=self.timeout or '?', grace=self.grace)
        if replaced:
            # "All its changes were rolled back" would not be true: say what was.
            rolled_back = _("Its database session was ended, rolling back what it did since it ended the run's "
                            'transaction itself (COMMIT or ROLLBACK in SQL); what it committed then stays.')
        else:
            rolled_back = _('Its database session was ended, so all its changes were rolled back.')
        message = f'{stopped} {rolled_back}'
        if self.watcher is not None:
            self.recorder.record_changes(list(self.watcher.changes.values()))
        log_line(self.recorder, LogLevelChoices.FAILURE, message)
        outcome = RunOutcome(status, error=message)
        try:
            self.recorder._write(update_run=False)
        except DatabaseError:
            logger.exception('Could not write the log of run %s', run.pk)
        record_outcome(run, outcome, self.recorder, only_if_running=True)
        if run.job_id:
            Job.objects.filter(pk=run.job_id, status__in=JobStatusChoices.ENQUEUED_STATE_CHOICES).update(
                status=JobStatusChoices.STATUS_ERRORED if status == RunStatusChoices.TIMED_OUT
                else JobStatusChoices.STATUS_FAILED,
                completed=timezone.now(), error=message[:10000],
            )
        if self.exit_process is not None:
            self.exit_process(run)


def hard_stop_exit(code=1, message=None):
    """An `exit_process` for RunStopper: print `message(run)` (if given) and end this process at once."""
    def exit_process(run):
        if message is not None:
            try:
                sys.stderr.write(message(run) + '\n')
                sys.stderr.flush()
            except Exception:  # the process ends either way
                pass
        os._exit(code(run) if callable(code) else code)

    return exit_process


@contextmanager
def enforced_time_limit(seconds):
    """Enforce a time limit on runs executing outside an RQ work-horse (RQ enforces it there itself)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    from rq.timeouts import UnixSignalDeathPenalty

    with UnixSignalDeathPenalty(seconds, JobTimeoutException):
        yield
