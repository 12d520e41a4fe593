"""
Running one ScriptRun: the transaction, commit or dry-run rollback, the outcome, and the run record.

`run()` executes in one database transaction with NetBox's change logging switched on, attributed to the run's
user and request ID - for dry runs too, so the changes a dry run would make are recorded before they are rolled
back. A dry run, AbortScript, an uncaught exception, a timeout or a cancel roll back everything the script did
(signals and nested savepoints included); a committed run commits all of it or nothing.
"""
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

from core.choices import JobStatusChoices
from core.models import Job, ObjectChange
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_save
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.context import current_request, events_queue, query_cache
from netbox.context_managers import event_tracking
from netbox.registry import registry
from psycopg import pq
from rq.timeouts import JobTimeoutException
from utilities.request import NetBoxFakeRequest, copy_safe_request

from ..choices import ChangeActionChoices, HealthChoices, LogLevelChoices, RunSourceChoices, RunStatusChoices
from ..models import Script, ScriptModule, ScriptRun
from ..scripting.exceptions import AbortScriptBase as AbortScript  # NetBox's while NetBox has one (not 5.0)
from ..scripting.log import LOG_LEVELS, LogEntry
from ..scripting.script import BaseScript, report_test_names, script_options, secret_variable_names
from .errors import RunRefused
from .inputs import SECRET_MASK, InputError, validate_inputs
from .loader import get_script_class, load_revision
from .recorder import LiveRecorder
from .secrets import unseal
from .signals import run_finished
from .watchdog import reap_stale_runs

__all__ = (
    'RunCancelled',
    'RunOutcome',
    'RunStopper',
    'build_run_request',
    'capture_request',
    'finish_run',
    'run_script',
)

logger = logging.getLogger('netbox_custom_scripts.runner')

# Raised in the script's thread when someone cancels the run. A BaseException, so that a script's own
# `except Exception` cannot swallow it.
CANCEL_SIGNAL = signal.SIGUSR2


class RunCancelled(BaseException):
    pass


class _DryRunRollback(Exception):
    pass


class _TransactionEndedByScript(Exception):
    """The script ran COMMIT or ROLLBACK itself: the run's transaction is not the one it started with."""


def _transaction_ended_message():
    return _(
        "The script ended the run's database transaction itself (COMMIT or ROLLBACK in SQL): what it did before that "
        'was committed or discarded then, and cannot be rolled back with the rest.'
    )


@dataclass
class RunOutcome:
    status: str
    output: str = ''
    output_format: str = 'text'
    error: str = ''
    traceback: str = ''


def capture_request(http_request, secret_fields=()):
    """
    What a run keeps of the HTTP request that started it, for `self.request`: plain data only - the safe headers,
    query and form data without secret values, method and path. No user, cookies or files: this travels in the
    queued RQ job, which Redis may keep for a long time.
    """
    if http_request is None:
        return None
    safe = copy_safe_request(http_request, include_files=False)
    post = safe.POST.copy() if hasattr(safe.POST, 'copy') else QueryDict(mutable=True)
    for name in (*secret_fields, 'csrfmiddlewaretoken'):
        post.pop(name, None)
    if secret_fields and 'data' in post:
        # The REST API takes the inputs of a multipart or form-encoded request as JSON in its `data` field.
        post.setlist('data', [_mask_json_inputs(value, secret_fields) for value in post.getlist('data')])
    # The run form is posted back to its own URL, which may pre-fill inputs (?password=...): secret ones go, from the
    # query, the query string and the referring URL alike.
    get = safe.GET.copy()
    for name in secret_fields:
        get.pop(name, None)
    meta = dict(safe.META)
    if 'QUERY_STRING' in meta:
        meta['QUERY_STRING'] = get.urlencode()
    if 'HTTP_REFERER' in meta:
        meta['HTTP_REFERER'] = meta['HTTP_REFERER'].split('?', 1)[0].split('#', 1)[0]
    return {
        'META': meta,
        'GET': {key: get.getlist(key) for key in get},
        'POST': {key: post.getlist(key) for key in post},
        'method': safe.method,
        'path': safe.path,
        'path_info': safe.path_info,
    }


def _query_dict(lists):
    query = QueryDict(mutable=True)
    for key, values in (lists or {}).items():
        query.setlist(key, list(values))
    return query


def build_run_request(run, user, captured=None):
    """
    What a script sees as `self.request`, and what change logging attributes changes to: the user, the run's own
    request ID, and - for runs started over HTTP - what capture_request() kept of the original request.
    """
    data = {
        'user': user,
        'id': run.request_id,
        'META': {},
        'GET': QueryDict(),
        'POST': QueryDict(),
        'COOKIES': {},
        'FILES': {},
        'method': 'POST',
        'path': '',
        'path_info': '',
        # How deep in a chain of event-rule runs this one is (see event_rules.MAX_EVENT_DEPTH).
        'custom_script_event_depth': (run.event or {}).get('depth', 0),
    }
    if captured:
        data.update(
            META=dict(captured.get('META') or {}), GET=_query_dict(captured.get('GET')),
            POST=_query_dict(captured.get('POST')), method=captured.get('method') or 'POST',
            path=captured.get('path') or '', path_info=captured.get('path_info') or '',
        )
    return NetBoxFakeRequest(data)


def _mask_json_inputs(value, secret_fields):
    """A JSON object of inputs with the secret ones masked; anything else is dropped (it may hold anything)."""
    try:
        inputs = json.loads(value)
    except (TypeError, ValueError):
        return ''
    if not isinstance(inputs, dict):
        return ''
    return json.dumps({name: SECRET_MASK if name in secret_fields else v for name, v in inputs.items()})


def _format_output(value):
    if value is None:
        return '', 'text'
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, indent=2, sort_keys=False, default=str), 'json'
    return str(value), 'text'


@contextmanager
def change_tracking(request, commit):
    """
    NetBox's change logging and event queue, for the run's request. Committed runs hand their events to NetBox's
    event pipeline after the commit (webhooks, event rules); a dry run's events are dropped.
    """
    with ExitStack() as stack:
        for processor in registry['request_processors']:
            if processor is event_tracking:
                continue
            stack.enter_context(processor(request))
        if commit:
            stack.enter_context(event_tracking(request))
            yield
            return
        tokens = (current_request.set(request), events_queue.set({}), query_cache.set(defaultdict(dict)))
        try:
            yield
        finally:
            current_request.reset(tokens[0])
            events_queue.reset(tokens[1])
            query_cache.reset(tokens[2])


def _change_record(change):
    return {
        'time': change.time,
        'action': {
            'create': ChangeActionChoices.CREATE, 'update': ChangeActionChoices.UPDATE,
            'delete': ChangeActionChoices.DELETE,
        }[change.action],
        'object_type_id': change.changed_object_type_id,
        'object_id': change.changed_object_id,
        'object_repr': (change.object_repr or '')[:200],
        'prechange_data': change.prechange_data,
        'postchange_data': change.postchange_data,
    }


class _ChangeWatcher:
    """
    Remembers the ObjectChanges of one request as NetBox writes them, for runs that fail: once their transaction
    is broken, the database can no longer be asked.
    """

    def __init__(self, request_id):
        self.request_id = request_id
        self.changes = {}

    def __call__(self, sender, instance, **kwargs):
        if instance.request_id == self.request_id:
            self.changes[instance.pk] = _change_record(instance)

    def __enter__(self):
        post_save.connect(self, sender=ObjectChange, weak=False)
        return self

    def __exit__(self, *exc):
        post_save.disconnect(self, sender=ObjectChange)


@contextmanager
def _cancel_signal(recorder, stopper=None):
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
def _cancel_interrupted_query():
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
        reason = self._reason(fresh=True)
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
        _log(self.recorder, LogLevelChoices.FAILURE, message)
        outcome = RunOutcome(status, error=message)
        try:
            self.recorder._write(update_run=False)
        except DatabaseError:
            logger.exception('Could not write the log of run %s', run.pk)
        _record_outcome(run, outcome, self.recorder, only_if_running=True)
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


def _log(recorder, level, message):
    recorder.log(LogEntry(level=level, message=message, time=timezone.now()))


def run_script(run, script_class, data, request, recorder, stopper=None):
    """
    Execute the script of `run` with cleaned `data`. Returns a RunOutcome; never raises for anything the script
    does. Inside a caller's transaction (the test helper) the run's transaction is a savepoint of it. With a
    RunStopper, a run past its time limit or cancelled never commits, and one that will not stop is stopped hard.
    """
    script = script_class()
    script.request = request
    script._run_event = run.event  # behind the `event` property: a variable or attribute `event` stays the author's
    script._reporter = recorder
    commit = run.commit
    outcome = None
    watcher = _ChangeWatcher(request.id)
    if stopper is not None:
        stopper.attach(watcher)

    try:
        with _cancel_signal(recorder, stopper), watcher, change_tracking(request, commit):
            with transaction.atomic():
                if stopper is not None:
                    stopper.note_transaction_start()
                with _cancel_interrupted_query():
                    value = script.run(data, commit)
                if stopper is not None and stopper.transaction_replaced():
                    raise _TransactionEndedByScript()
                changes = ObjectChange.objects.filter(request_id=request.id).order_by('pk')
                recorder.record_changes([_change_record(change) for change in changes])
                output, output_format = _format_output(value)
                status = RunStatusChoices.FAILED if script.failed else RunStatusChoices.COMPLETED
                outcome = RunOutcome(status, output, output_format)
                if stopper is not None:
                    stopper.before_end(commit)
                if not commit:
                    raise _DryRunRollback()
        if commit and outcome.status == RunStatusChoices.COMPLETED:
            _log(recorder, LogLevelChoices.INFO, _('Changes committed.'))
    except _DryRunRollback:
        _log(recorder, LogLevelChoices.INFO, _('Dry run: all changes were rolled back.'))
    except _TransactionEndedByScript:
        recorder.record_changes(list(watcher.changes.values()))
        _log(recorder, LogLevelChoices.FAILURE, _transaction_ended_message())
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=_transaction_ended_message())
    except AbortScript as exc:
        recorder.record_changes(list(watcher.changes.values()))
        message = str(exc)
        _log(recorder, LogLevelChoices.FAILURE, _('Aborted: {message}').format(message=message))
        outcome = RunOutcome(RunStatusChoices.ABORTED, error=message)
    except JobTimeoutException as exc:
        recorder.record_changes(list(watcher.changes.values()))
        message = _('The run exceeded its time limit ({limit} s); all changes were rolled back.').format(
            limit=run.job_timeout or '?'
        )
        _log(recorder, LogLevelChoices.FAILURE, message)
        outcome = RunOutcome(RunStatusChoices.TIMED_OUT, error=str(exc) or message)
    except RunCancelled:
        recorder.record_changes(list(watcher.changes.values()))
        message = _('Cancelled while running; all changes were rolled back.')
        _log(recorder, LogLevelChoices.WARNING, message)
        outcome = RunOutcome(RunStatusChoices.CANCELLED, error=message)
    except (Exception, SystemExit) as exc:
        recorder.record_changes(list(watcher.changes.values()))
        error = f'{type(exc).__name__}: {exc}'
        _log(recorder, LogLevelChoices.FAILURE, _('An exception occurred: `{error}`').format(error=error))
        _log(recorder, LogLevelChoices.INFO, _('All changes were rolled back.'))
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=error, traceback=traceback.format_exc())
    finally:
        if stopper is not None:
            stopper.finished()
    if stopper is not None and stopper.hard_stopped:
        # Recorded by the stopper; this thread's database session is gone.
        connection.close()
    return outcome


def run_health_check(run, script_class, request, recorder, stopper=None):
    """
    Run the script's test_* methods against the live data in a transaction that is always rolled back, each in a
    savepoint of its own so one failing test does not hide the others. A test fails when it raises (an assert, say)
    or logs a failure. Records the result as the script's health.
    """
    script = script_class()
    script.request = request
    script._reporter = recorder
    tests = [(name, getattr(script, name)) for name in report_test_names(script_class)]
    tests += [(name, partial(test, script)) for name, test in companion_tests(run.script)]
    for name, _test in tests:
        script.tests.setdefault(name, {level: 0 for level in LOG_LEVELS})
    results = {}
    if stopper is not None:
        stopper.attach(None)
    try:
        with _cancel_signal(recorder, stopper), change_tracking(request, commit=False):
            with transaction.atomic():
                for name, test in tests:
                    _log(recorder, LogLevelChoices.INFO, _('Running {test}').format(test=name))
                    script._current_test = name
                    failures = script.tests[name][LogLevelChoices.FAILURE]
                    try:
                        with transaction.atomic():
                            test()
                    except RunCancelled:
                        raise
                    except Exception as exc:
                        # Through Script itself: a legacy Report's log_failure takes (obj, message).
                        BaseScript.log_failure(script, _('{test} raised {error}').format(
                            test=name, error=f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
                        ))
                    finally:
                        script._current_test = None
                    results[name] = script.tests[name][LogLevelChoices.FAILURE] == failures
                raise _DryRunRollback()
    except _DryRunRollback:
        pass
    except RunCancelled:
        _log(recorder, LogLevelChoices.WARNING, _('Cancelled while running; all changes were rolled back.'))
        return RunOutcome(RunStatusChoices.CANCELLED, error=_('Cancelled while running.'))
    except JobTimeoutException as exc:
        _log(recorder, LogLevelChoices.FAILURE, _('The tests exceeded their time limit.'))
        _record_health(run, HealthChoices.FAILING)
        return RunOutcome(RunStatusChoices.TIMED_OUT, error=str(exc) or _('Time limit exceeded.'))
    finally:
        if stopper is not None:
            stopper.finished()
    failed = sorted(name for name, passed in results.items() if not passed)
    summary = _('{passed} of {total} tests passed; all changes were rolled back.').format(
        passed=len(results) - len(failed), total=len(results)
    )
    if failed:
        _log(recorder, LogLevelChoices.FAILURE, summary + ' ' + _('Failing: {names}').format(names=', '.join(failed)))
    else:
        _log(recorder, LogLevelChoices.SUCCESS, summary)
    _record_health(run, HealthChoices.FAILING if failed else HealthChoices.PASSING)
    return RunOutcome(
        RunStatusChoices.FAILED if failed else RunStatusChoices.COMPLETED,
        output=json.dumps({'passed': sorted(set(results) - set(failed)), 'failed': failed}),
        output_format='json',
    )


def companion_tests(script):
    """
    The tests a companion module ships for `script`: module `<module>_tests` (any source), class `<Class>Tests`,
    its `test_*(self, script)` methods, as (name, unbound-to-script callable) pairs. None when there is no such
    module or it does not load.
    """
    companion = ScriptModule.objects.filter(name=f'{script.module.name}_tests').select_related(
        'current_revision'
    ).first()
    if companion is None or not companion.is_runnable:
        return []
    tests_class = getattr(load_revision(companion.current_revision).module, f'{script.class_name}Tests', None)
    if not isinstance(tests_class, type):
        return []
    instance = tests_class()
    return [
        (f'{companion.name}.{tests_class.__name__}.{name}', getattr(instance, name))
        for name in sorted(dir(tests_class)) if name.startswith('test_') and callable(getattr(tests_class, name))
    ]


def _record_health(run, health):
    Script.objects.filter(pk=run.script_id).update(health=health, health_checked=timezone.now())


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
    return _record_outcome(run, outcome, recorder)


def _bounded_output(outcome):
    """The output, cut at the max_output_size setting (a cut JSON document is text)."""
    limit = settings_value('max_output_size')
    if len(outcome.output) <= limit:
        return outcome.output, outcome.output_format
    cut = len(outcome.output) - limit
    return (f'{outcome.output[:limit]}\n[... {cut} more characters cut: the output is longer than max_output_size; '
            f'attach large results to the run with save_file()]'), 'text'


def _record_outcome(run, outcome, recorder, only_if_running=False):
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


def _run_request(run, request):
    """`self.request` of a queued run: rebuilt from what capture_request() kept (jobs queued by earlier releases
    carry a ready-made request)."""
    if request is None or isinstance(request, dict):
        return build_run_request(run, run.user, request)
    return request


def execute_queued_run(run_id, job, *, sealed_secrets=None, files=None, request=None, time_limit=None,
                       enforce_time_limit=False, exit_process=None):
    """
    The worker side of a run: start it (unless it was cancelled or its singleton script is busy), re-validate its
    inputs against the revision it was dispatched with, run it, and record the outcome. Returns the finished run,
    or None when there was nothing to run. `time_limit` is the run's limit in seconds (RQ enforces it in a
    work-horse; `enforce_time_limit` enforces it here); `exit_process` ends this process after a hard stop.
    """
    run = ScriptRun.objects.select_related('script__module', 'revision__module', 'user').filter(pk=run_id).first()
    if run is None:
        logger.info('Run %s no longer exists; nothing to do', run_id)
        return None
    now = timezone.now()
    if run.source == RunSourceChoices.SCHEDULE and run.schedule_id is None:
        ScriptRun.objects.filter(pk=run.pk, status__in=RunStatusChoices.WAITING).update(
            status=RunStatusChoices.CANCELLED, completed=now, error=_('Its schedule was deleted.'),
        )
        return None
    started = ScriptRun.objects.filter(
        pk=run.pk, status__in=RunStatusChoices.WAITING, cancel_requested__isnull=True
    ).update(status=RunStatusChoices.RUNNING, started=now, heartbeat=now, job=job)
    if not started:
        logger.info('Run %s is %s; not starting it', run.pk, run.status)
        return None
    run.status, run.started, run.heartbeat, run.job = RunStatusChoices.RUNNING, now, now, job

    recorder = LiveRecorder(
        run.pk,
        max_file_size=settings_value('max_file_size'),
        max_line_length=settings_value('max_log_line_length'),
        on_tick=lambda: reap_stale_runs(ScriptRun.objects.exclude(pk=run.pk)),
    )
    stopper = recorder.stopper = RunStopper(
        run, recorder, timeout=time_limit, grace=settings_value('stop_grace_period'), exit_process=exit_process,
    )
    recorder.start()
    timeout = time_limit if enforce_time_limit else None
    try:
        if run.script is None:
            raise RunRefused(_('The script of this run no longer exists.'))
        if run.script.module.current_revision_id != run.revision_id:
            logger.info('Run %s executes revision %s, which is no longer current', run.pk, run.revision_id)
        script_class = get_script_class(run.script, run.revision)
        if script_options(script_class).singleton:
            busy = ScriptRun.objects.filter(script=run.script, status=RunStatusChoices.RUNNING).exclude(pk=run.pk)
            if busy.exists():
                raise RunRefused(_('Another run of this singleton script (#{run}) is running.').format(
                    run=busy.first().pk
                ))
        if run.health_check:
            with _time_limit(timeout):
                outcome = run_health_check(run, script_class, _run_request(run, request), recorder, stopper)
            return finish_run(run, outcome, recorder)
        secret_names = secret_variable_names(script_class)
        raw = {name: value for name, value in run.inputs.items() if name not in secret_names}
        raw.update(unseal(sealed_secrets))
        uploads = _uploaded_files(files)
        try:
            inputs = validate_inputs(script_class, raw, uploads, user=run.user, strict=False)
        except InputError as exc:
            messages = '; '.join(f'{name}: {" ".join(errors)}' for name, errors in exc.message_dict.items())
            raise RunRefused(_('The inputs are no longer valid: {errors}').format(errors=messages))
        http_request = _run_request(run, request)
        with _time_limit(timeout):
            outcome = run_script(run, script_class, inputs.cleaned, http_request, recorder, stopper)
        if run.approval_requested and outcome.status == RunStatusChoices.COMPLETED:
            _log(recorder, LogLevelChoices.INFO, _('The changes above wait for approval; nothing was committed yet.'))
            outcome.status = RunStatusChoices.AWAITING_APPROVAL
        elif run.approval_requested:
            _log(recorder, LogLevelChoices.WARNING, _('The dry run did not complete cleanly; it is not submitted for '
                                                      'approval.'))
    except RunRefused as exc:
        # Not started (a busy singleton, a script that is gone, inputs no longer valid): a refusal, not a crash.
        _log(recorder, LogLevelChoices.WARNING, str(exc))
        outcome = RunOutcome(RunStatusChoices.REFUSED, error=str(exc))
    except Exception as exc:  # anything failing around the script (loading it, say) still ends the run truthfully
        logger.exception('Run %s could not be executed', run.pk)
        _log(recorder, LogLevelChoices.FAILURE, f'{type(exc).__name__}: {exc}')
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=f'{type(exc).__name__}: {exc}',
                             traceback=traceback.format_exc())
    return finish_run(run, outcome, recorder)


def settings_value(key):
    return settings.PLUGINS_CONFIG['netbox_custom_scripts'][key]


def _uploaded_files(files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {
        name: SimpleUploadedFile(filename, content, content_type or 'application/octet-stream')
        for name, filename, content, content_type in (files or [])
    }


@contextmanager
def _time_limit(seconds):
    """Enforce a time limit on runs executing outside an RQ work-horse (RQ enforces it there itself)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    from rq.timeouts import UnixSignalDeathPenalty

    with UnixSignalDeathPenalty(seconds, JobTimeoutException):
        yield
