"""
Contract: when the tasks Redis restarts while runs are queued, every run ends truthfully - it completes exactly once
after the restart, or it ends with a status and a message that say its job was lost - and none stays pending
forever; the worker reconnects by itself and runs what is queued after the restart.

What a restart means in production. NetBox's Redis is usually Debian's package with its default persistence: an RDB
snapshot (`save 3600 1 300 100 60 10000`, no AOF). `systemctl restart redis-server` stops it cleanly (SIGTERM), which
writes a snapshot that the new process loads: the queued jobs survive, and each run must complete exactly once. A
Redis that dies instead (the OOM killer, a host crash: SIGKILL) comes back with its *last* snapshot: the jobs queued
since then are gone - their runs must end *errored* or *cancelled* with a message saying the job was lost,
reconciled by the watchdog (triggered here through its real path, RunWatchdogJob on a real worker, rather than
waiting for its schedule), not stay *pending* with nothing left that could ever run them - and the jobs in the
snapshot that have run since are delivered again: they must not run a second time. (A Redis without persistence,
as in CI or a container without a volume, always comes back empty: the first case.)

The shared Redis is never touched: the tests start a throw-away `redis-server` of their own on a free port (see
RedisServer), and point both this process (settings.RQ_QUEUES) and a worker of their own (NB_REDIS_*) at it.
"""
import signal
import time

import pytest
from core.models import Job
from dcim.models import Site
from django.utils import timezone
from rq import Queue
from rq.job import Job as RQJob

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution.watchdog import RQ_GONE_GRACE
from netbox_custom_scripts.jobs import RunWatchdogJob
from netbox_custom_scripts.models import RunLog, ScriptRun

from ..utils import wait_for
from .helpers import RedisServer, finished, logged, spawn_worker, stop_tree, submit, wait_for_worker

pytestmark = pytest.mark.django_db(transaction=True)

QUEUED = 5


@pytest.fixture(scope='module')
def throwaway(django_db_setup, tmp_path_factory):
    """A throw-away Redis and a worker on it (queues `low` and `default`), shared by this module's tests."""
    server = RedisServer(tmp_path_factory.mktemp('redis')).start()
    worker = spawn_worker('low', 'default', env=server.worker_env(), name='redis-restart')
    try:
        wait_for_worker(worker, server.connection(), 'low')
        yield server, worker
    finally:
        stop_tree(worker)
        server.stop(signal.SIGKILL)


@pytest.fixture
def on_throwaway(throwaway, settings):
    """This process queues its jobs on the throw-away Redis too."""
    server, worker = throwaway
    settings.RQ_QUEUES = server.rq_queues()
    yield server, worker
    for name in ('low', 'default'):
        Queue(name, connection=server.connection()).empty()


def queue_behind_a_running_run(admin, server, count=QUEUED, prefix='queued', seconds=5):
    """A run that keeps the worker busy, and `count` runs queued behind it; returns (blocker, {run pk: tag})."""
    blocker = submit('LowPlan', admin, plan=[['backend'], ['sleep', seconds]])
    logged(blocker, 'backend ')
    queued = {}
    for i in range(count):
        tag = f'{prefix}-{i}'
        queued[submit('LowPlan', admin, plan=[['marker', tag]]).pk] = tag
    assert Queue('low', connection=server.connection()).count == count
    return blocker, queued


def markers(run_ids):
    return [(run_id, line.message) for run_id in run_ids for line in RunLog(run_id, query='marker ')
            if line.message.startswith('marker ')]


def assert_each_ran_once(queued):
    """Each run logged its marker once and created its site once."""
    lines = markers(queued)
    assert sorted(run_id for run_id, _ in lines) == sorted(queued), f'each run must mark exactly once: {lines}'
    assert all(message.split()[1] == queued[run_id] for run_id, message in lines)
    names = Site.objects.filter(name__in=queued.values()).values_list('name', flat=True)
    assert sorted(names) == sorted(queued.values())


def assert_all_completed(runs, timeout=60):
    for run in runs:
        run = finished(run, timeout=timeout)
        assert run.status == RunStatusChoices.COMPLETED, (run.pk, run.error, run.traceback)


def assert_a_new_run_completes(admin):
    """A run queued after the restart is taken by the same, reconnected worker."""
    assert_all_completed([submit('LowPlan', admin, plan=[['marker', 'after-restart']])])


def redeliver_old_snapshot(server, queued):
    """
    Crash Redis so that it comes back with a snapshot in which the (since completed) runs `queued` were still
    queued, and wait for the worker to take their jobs again. Returns their runs' and core Jobs' records as they were
    before.
    """
    runs = ScriptRun.objects.filter(pk__in=queued).order_by('pk')
    before = list(runs.values_list('pk', 'status', 'started', 'completed'))
    jobs = Job.objects.filter(pk__in=runs.values('job_id')).order_by('pk')
    jobs_before = list(jobs.values_list('pk', 'status', 'started', 'completed', 'data', 'error'))
    job_ids = [str(job_id) for job_id in runs.values_list('job__job_id', flat=True)]
    crashed = timezone.now()
    server.restart(signal.SIGKILL)

    def taken_again():
        rq_jobs = RQJob.fetch_many(job_ids, connection=server.connection())
        return all(job and job.ended_at and job.ended_at > crashed for job in rq_jobs)

    wait_for(taken_again, timeout=60, message='the worker to take the jobs of the old snapshot again')
    return before, list(runs.values_list('pk', 'status', 'started', 'completed')), jobs_before, list(
        jobs.values_list('pk', 'status', 'started', 'completed', 'data', 'error'))


def test_clean_restart_keeps_queued_runs_and_runs_each_once(on_throwaway, admin):
    server, worker = on_throwaway
    blocker, queued = queue_behind_a_running_run(admin, server)

    server.restart(signal.SIGTERM)
    # (The worker is busy with the blocker, so it cannot have taken any of them yet.)
    assert Queue('low', connection=server.connection()).count == QUEUED, 'the snapshot did not keep the queue'
    assert ScriptRun.objects.get(pk=blocker.pk).status == RunStatusChoices.RUNNING
    assert_all_completed([blocker, *(ScriptRun(pk=pk) for pk in queued)])
    assert_each_ran_once(queued)
    assert worker.poll() is None
    assert_a_new_run_completes(admin)

    # Redis now crashes and comes back with its last snapshot - the one the clean shutdown wrote, with the runs
    # still queued - so it delivers their jobs again: the runs, already completed, must not run a second time.
    runs_before, runs_after, _, _ = redeliver_old_snapshot(server, queued)
    assert runs_after == runs_before
    assert_each_ran_once(queued)


def test_jobs_delivered_again_leave_the_core_jobs_of_ended_runs_as_they_were(on_throwaway, admin):
    server, worker = on_throwaway
    blocker, queued = queue_behind_a_running_run(admin, server, count=2, prefix='again', seconds=3)
    server.connection().save()  # the last snapshot, with the runs still queued
    assert Queue('low', connection=server.connection()).count == 2, 'the blocker ended before the snapshot'
    assert_all_completed([blocker, *(ScriptRun(pk=pk) for pk in queued)])
    runs_before, runs_after, jobs_before, jobs_after = redeliver_old_snapshot(server, queued)
    assert runs_after == runs_before
    assert_each_ran_once(queued)
    assert jobs_after == jobs_before


def test_crash_that_loses_the_queue_ends_each_queued_run_truthfully(on_throwaway, admin):
    server, worker = on_throwaway
    server.connection().save()  # Redis's last snapshot was taken before the runs were queued
    blocker, queued = queue_behind_a_running_run(admin, server)

    server.restart(signal.SIGKILL)
    assert Queue('low', connection=server.connection()).count == 0, 'the crash was expected to lose the queue'

    # The run that was running goes on and ends truthfully; the worker reconnects and takes new work.
    assert finished(blocker, timeout=60).status == RunStatusChoices.COMPLETED
    assert worker.poll() is None
    assert_a_new_run_completes(admin)

    # The watchdog's next tick, once the grace it gives a just-queued run has passed.
    newest = ScriptRun.objects.filter(pk__in=queued).order_by('-created').first().created
    time.sleep(max(0.0, (newest + RQ_GONE_GRACE - timezone.now()).total_seconds()) + 1)
    watchdog = RunWatchdogJob.enqueue()
    wait_for(lambda: Job.objects.filter(pk=watchdog.pk, status='completed').exists(), timeout=30,
             message='the watchdog job to complete')

    runs = ScriptRun.objects.filter(pk__in=queued).order_by('pk')
    stuck = [(run.pk, run.status) for run in runs if run.status not in RunStatusChoices.TERMINAL]
    assert not stuck, f'runs whose job was lost are still waiting: {stuck}'
    for run in runs:
        assert run.status in (RunStatusChoices.ERRORED, RunStatusChoices.CANCELLED), (run.pk, run.status)
        assert 'lost' in run.error.lower(), (run.pk, run.error)
        assert run.started is None and run.completed is not None
    assert not markers(queued), 'a run whose job was lost ran anyway'
    assert not Site.objects.filter(name__startswith='queued-').exists()
