"""
Contract: a run that is interrupted from outside - its time limit (Meta.job_timeout) passes, or someone cancels it
- while it sleeps in Python, waits inside PostgreSQL or is deep in nested savepoints, ends *timed out* or
*cancelled* (never stuck in running), its writes are all rolled back (the touched tables are row-for-row
unchanged), its log up to the interruption is kept, its database session does not live on holding the run's
locks, and the worker goes on to run the next job normally. A queued run that is cancelled never starts.

The session check has a test of its own (test_interrupted_database_wait_leaves_no_session_behind, an expected
failure until the plugin cancels the interrupted query); the other tests end a session that lived on themselves.
"""
import time

import pytest
from django.db import OperationalError, connection, transaction

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import cancel_run

from .helpers import (
    WRITE_LABELS,
    WRITES,
    assert_next_run_completes,
    assert_subsequence,
    busy,
    fingerprint,
    finished,
    log_messages,
    logged,
    release,
    session_of,
    submit,
)

pytestmark = pytest.mark.django_db(transaction=True)


def row_locked(site_name):
    """Another session holds a lock on the site's row (found out within two seconds)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            cursor.execute('SELECT id FROM dcim_site WHERE name = %s FOR UPDATE', [site_name])
        return False
    except OperationalError:
        return True




# interruption: (script, seconds it waits, final status, core Job status, last log line)
INTERRUPTIONS = {
    'timeout': ('TimedPlan', 30, RunStatusChoices.TIMED_OUT, 'errored',
                'The run exceeded its time limit (3 s); all changes were rolled back.'),
    'cancel': ('Plan', 60, RunStatusChoices.CANCELLED, 'failed',
               'Cancelled while running; all changes were rolled back.'),
}


def interrupt(admin, interruption, plan, waiting):
    """
    Submit `plan`; cancel it once it logged the label `waiting` (of its last step), or let it time out. Returns the
    finished run and the PID of its database backend.
    """
    run = submit(INTERRUPTIONS[interruption][0], admin, plan=plan)
    backend = int(logged(run, 'backend ').split()[1])
    if interruption == 'cancel':
        logged(run, waiting)
        cancel_run(run, admin)
    return finished(run, timeout=60), backend


def test_timeout_and_cancel_roll_back_and_keep_the_log(rq_worker, baseline, admin):
    for interruption, wait in [('timeout', 'sleep'), ('timeout', 'pg_sleep'), ('cancel', 'sleep'),
                               ('cancel', 'pg_sleep')]:
        context = f'{interruption} while in {wait}'
        _, seconds, status, job_status, last_line = INTERRUPTIONS[interruption]
        plan = [*WRITES, ['savepoint', [['site', 'int-c'], ['backend'], [wait, seconds]]]]
        run, backend = interrupt(admin, interruption, plan, f'4.2 {wait}')
        release(backend)  # see test_interrupted_database_wait_leaves_no_session_behind
        assert run.status == status, (context, run.error, run.traceback)
        assert run.job.status == job_status, context
        if interruption == 'timeout':
            assert run.job_timeout == 3, context
        messages = log_messages(run)
        assert_subsequence([*WRITE_LABELS, '4 savepoint', '4.0 site', '4.1 backend', f'4.2 {wait}'], messages)
        assert messages[-1] == last_line, (context, messages)
        if wait == 'sleep':
            assert 'tick 0' in messages, context
        assert fingerprint() == baseline, context
        assert_next_run_completes(admin)


def test_cancelled_queued_run_never_starts(rq_worker, baseline, admin):
    blocker = submit('Plan', admin, plan=[['backend'], ['sleep', 5]])
    queued = submit('Plan', admin, plan=[*WRITES])
    logged(blocker, 'backend ')
    cancel_run(queued, admin)
    assert finished(blocker).status == RunStatusChoices.COMPLETED
    queued = finished(queued)
    assert queued.status == RunStatusChoices.CANCELLED and queued.started is None
    assert log_messages(queued) == []
    assert fingerprint() == baseline


def test_interrupted_database_wait_leaves_no_session_behind(rq_worker, baseline, admin):
    for interruption in ('timeout', 'cancel'):
        status = INTERRUPTIONS[interruption][2]
        plan = [['update', 'base-0', 'locked'], ['backend'], ['pg_sleep', 30]]
        run, backend = interrupt(admin, interruption, plan, '2 pg_sleep')
        try:
            assert run.status == status, (interruption, run.error, run.traceback)
            # Moments after the run ended its session is idle or gone, and the row it updated is free again.
            deadline = time.monotonic() + 5
            while busy(backend) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not busy(backend), f'{interruption}: the run ended but its session lives on: {session_of(backend)}'
            assert not row_locked('base-0'), f"{interruption}: the run's row lock outlived it"
        finally:
            release(backend)
        assert fingerprint() == baseline
