"""
Contract: a run whose process dies or whose database session is cut mid-run ends truthfully and leaves nothing
behind.

- SIGKILL mid-run of a worker with its work-horse (the host or container dies), or of a work-horse alone (the OOM
  killer): the run ends *errored* ("The worker running this script stopped ...") within the watchdog's promise of a
  minute, the watchdog job being triggered through its real path (RunWatchdogJob, taken by a real worker) at the
  tick where it can tell, rather than waiting for its schedule; none of its writes survives (the touched tables are
  row-for-row unchanged); its log is exactly what it had written when it was killed - every line up to the kill, gap
  free, nothing after; and a surviving worker takes the next job. (tests/test_worker_runs.py covers the plain kill;
  this adds updates and deletes of committed rows, nested savepoints, the exact log and the horse-only kill.)
- Its PostgreSQL session terminated (pg_terminate_backend on the run's own backends only, as a failover, an idle
  session killer or a DBA would): the run ends *errored* with the database error as its message, none of its writes
  survives, every line it logged is kept, and the same worker runs the next job normally.
"""
import os
import signal
import time

import pytest
from core.models import Job
from django.db import connections
from django.utils import timezone

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution.watchdog import HEARTBEAT_TIMEOUT, RQ_GONE_GRACE
from netbox_custom_scripts.jobs import RunWatchdogJob
from netbox_custom_scripts.models import ScriptRun

from ..utils import descendants, wait_for
from .helpers import (
    WATCHDOG_PROMISE,
    WRITE_LABELS,
    assert_subsequence,
    fingerprint,
    finished,
    log_messages,
    logged,
    pg_backends,
    submit,
    terminate_backends,
    wait_for_worker,
)

pytestmark = pytest.mark.django_db(transaction=True)


def writes(n):
    """
    Writes of every kind before the fault point - create, update and delete of committed rows, nested savepoints -
    on rows of their own for each n (0 or 1), so that runs in flight together never wait for each other's locks.
    """
    return [
        ['site', f'crash-{n}-a'],
        ['update', f'base-{n}', 'crashed'],
        ['delete_ip', f'192.0.2.{n + 1}/24'],
        ['savepoint', [
            ['ip', f'10.98.{n}.1/24'],
            ['savepoint', [['site', f'crash-{n}-b'], ['update', f'base-{n + 2}', 'deep']]],
        ]],
    ]


def backend_of(run):
    """The PostgreSQL backend PID of the run's transaction, as its `backend` step logged it."""
    return int(logged(run, 'backend ').split()[1])


def holder(worker_pids, backend):
    """(worker PID, work-horse PID) of the process below one of the workers whose connection is `backend`."""
    def find():
        for worker_pid in worker_pids:
            for pid in descendants(worker_pid):
                if backend in pg_backends([pid]):
                    return worker_pid, pid
        return None

    return wait_for(find, timeout=10, message=f'the process holding backend {backend}')


def trigger_watchdog():
    """Run the watchdog system job now, through its real path: queued, taken by the test worker, JobRunner.handle()."""
    job = RunWatchdogJob.enqueue()
    wait_for(lambda: Job.objects.filter(pk=job.pk, status='completed').exists(), timeout=30,
             message='the watchdog job to complete')


def next_run_worker(admin, class_name='Plan'):
    """A dry run of the same script completes; returns the PID of the worker whose work-horse ran it."""
    follow = finished(submit(class_name, admin, commit=False, plan=[['marker', 'follow-up']]))
    assert follow.status == RunStatusChoices.COMPLETED, (follow.error, follow.traceback)
    return int(logged(follow, 'marker ').rsplit(' ', 1)[1])


def test_sigkill_mid_run(rq_worker, redis_connection, workers, baseline, admin):
    """
    Two workers on the `low` queue. Run 0: its worker is SIGKILLed with its work-horse and scheduler (the host dies),
    so only the run's silence tells. Run 1, which the other worker takes: its work-horse alone is SIGKILLed (the OOM
    killer), and RQ marks the job failed. One watchdog tick, once run 0 has been silent long enough, ends both.
    """
    pool = [workers.start('low', name=f'sigkill-{i}') for i in range(2)]
    for worker in pool:
        wait_for_worker(worker, redis_connection, 'low')
    pids = {worker.pid: worker for worker in pool}
    plan = [['savepoint', [['site', 'crash-c'], ['backend'], ['sleep', 120]]]]
    runs, killed_at = [], []
    for n in range(2):
        run = submit('LowPlan', admin, plan=[*writes(n), *plan])
        worker_pid, horse = holder(pids, backend_of(run))
        logged(run, 'tick 20')
        if n == 0:
            pids.pop(worker_pid)
            for pid in [worker_pid, *descendants(worker_pid)]:
                os.kill(pid, signal.SIGKILL)
        else:
            os.kill(horse, signal.SIGKILL)
        killed_at.append(time.monotonic())
        runs.append(run)
    survivor = next(iter(pids))

    # A write the horses had already sent may still be committed by the server just after the kill.
    time.sleep(1)
    at_kill = [log_messages(run) for run in runs]

    # The watchdog's tick once run 0 has been silent for as long as the watchdog needs to tell it is dead.
    heartbeat = ScriptRun.objects.get(pk=runs[0].pk).heartbeat
    time.sleep(max(0.0, (heartbeat + HEARTBEAT_TIMEOUT - timezone.now()).total_seconds()) + 1)
    trigger_watchdog()
    for n, run in enumerate(runs):
        run = finished(run, timeout=10, job_settled=False)
        context = f'run {n} ({"worker and horse" if n == 0 else "horse"} killed)'
        assert time.monotonic() - killed_at[n] < WATCHDOG_PROMISE, context
        assert run.status == RunStatusChoices.ERRORED, (context, run.status, run.error)
        assert run.error.startswith('The worker running this script stopped'), (context, run.error)
        assert run.completed is not None
        # The log is exactly what it was at the kill: every step up to the sleep, then gap-free ticks.
        messages = log_messages(run)
        assert messages == at_kill[n], context
        assert_subsequence([*WRITE_LABELS, '4 savepoint', '4.0 site', '4.1 backend', '4.2 sleep'], messages)
        ticks = messages[messages.index('4.2 sleep') + 1:]
        assert len(ticks) >= 21 and ticks == [f'tick {i}' for i in range(len(ticks))], (context, messages)
    assert fingerprint() == baseline, 'a killed run left writes behind'

    # The worker that lost only its horse takes the next job.
    assert pids[survivor].poll() is None
    assert next_run_worker(admin, 'LowPlan') == survivor


def cut_session_mid_run(rq_worker, admin, baseline, wait, target):
    """
    `transaction`: only the session of the run's transaction is terminated; `all`: every session the work-horse
    holds, the recorder's too (a failover or a restarted pooler cuts them all). With `sleep` the script goes on
    logging for a while after the fault and meets the dead session at its next write; with `pg_sleep` the fault
    interrupts a query.
    """
    seconds = {'sleep': 3, 'pg_sleep': 30}[wait]
    plan = [*writes(0), ['savepoint', [['site', 'pg-c'], ['backend'], [wait, seconds], ['site', 'pg-after']]]]
    run = submit('Plan', admin, plan=plan)
    backend = backend_of(run)
    _, horse = holder([rq_worker.pid], backend)
    logged(run, '4.2 ')
    if wait == 'sleep':
        logged(run, 'tick 5')
    held = pg_backends([horse])
    assert backend in held
    victims = [backend] if target == 'transaction' else held
    assert all(terminate_backends(victims).values())
    terminated_at = time.monotonic()

    run = finished(run, timeout=60)
    context = f'{wait}, {target} session(s) terminated'
    assert time.monotonic() - terminated_at < 30, context
    assert run.status == RunStatusChoices.ERRORED, (context, run.status, run.error, run.traceback)
    assert run.error.startswith('OperationalError'), (context, run.error)
    assert 'OperationalError' in run.traceback, context
    assert run.job.status == 'errored', context
    assert fingerprint() == baseline, f'{context}: the run left writes behind'

    # Every line the script logged is kept - up to the fault and after it, until the run ended.
    messages = log_messages(run)
    labels = [*WRITE_LABELS, '4 savepoint', '4.0 site', '4.1 backend', f'4.2 {wait}']
    if wait == 'sleep':
        labels += [*(f'tick {i}' for i in range(seconds * 10)), '4.3 site']
    assert_subsequence(labels, messages)
    assert messages[-2].startswith('An exception occurred: `OperationalError'), (context, messages)
    assert messages[-1] == 'All changes were rolled back.', context
    assert sum(run.log_counts.values()) == len(messages), context

    assert rq_worker.poll() is None
    assert next_run_worker(admin) == rq_worker.pid, context
    connections.close_all()


def test_database_session_terminated_mid_run(rq_worker, baseline, admin):
    for wait, target in [('sleep', 'transaction'), ('pg_sleep', 'transaction'), ('pg_sleep', 'all')]:
        cut_session_mid_run(rq_worker, admin, baseline, wait, target)


def test_database_sessions_terminated_while_the_script_goes_on_logging(rq_worker, baseline, admin):
    cut_session_mid_run(rq_worker, admin, baseline, 'sleep', 'all')


def test_watchdog_ends_the_core_job_of_a_dead_run_too(rq_worker, admin):
    run = submit('Plan', admin, plan=[['backend'], ['sleep', 60]])
    _, horse = holder([rq_worker.pid], backend_of(run))
    logged(run, 'tick 5')
    os.kill(horse, signal.SIGKILL)
    heartbeat = ScriptRun.objects.get(pk=run.pk).heartbeat
    time.sleep(max(0.0, (heartbeat + RQ_GONE_GRACE - timezone.now()).total_seconds()) + 1)
    trigger_watchdog()
    run = finished(run, timeout=10, job_settled=False)
    assert run.status == RunStatusChoices.ERRORED, (run.status, run.error)
    assert run.job.status == 'errored', f'the run ended errored, its core Job is {run.job.status}'
    assert run.job.completed is not None
