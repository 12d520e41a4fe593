"""
Runs executed by real `netbox rqworker` processes (real Redis, the test database): every outcome is truthful and
all-or-nothing; the log is visible from other connections while the run is still going and survives rollbacks
and crashes; a running run can be cancelled; timeouts and queues are honoured; a worker killed mid-run leaves no
run stuck in "running"; and a dry run's diff lists exactly what the committed run then creates.
"""
import datetime
import os
import signal
import time

import pytest
from dcim.models import Site
from django.db import connections
from django.utils import timezone
from netbox.registry import registry

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import cancel_run, rerun, submit_run, sync_directory
from netbox_custom_scripts.execution.watchdog import HEARTBEAT_TIMEOUT
from netbox_custom_scripts.jobs import RunWatchdogJob
from netbox_custom_scripts.models import RunLog, Script, ScriptRun

from .utils import descendants, finished, start_worker, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(admin):
    sync_directory()
    return admin


@pytest.mark.parametrize('name, data, status, sites', [
    ('behaviours.CreateSites', {'prefix': 'ok', 'count': 2}, RunStatusChoices.COMPLETED, 2),
    ('behaviours.LogFailure', {}, RunStatusChoices.FAILED, 0),
    ('behaviours.Abort', {}, RunStatusChoices.ABORTED, 0),
    ('behaviours.CreateSites', {'prefix': 'err', 'count': 3, 'fail_after': 2}, RunStatusChoices.ERRORED, 0),
])
def test_outcomes_through_a_worker(rq_worker, admin, name, data, status, sites):
    run = finished(submit(name, admin, data))
    assert run.status == status, (run.error, run.traceback)
    assert Site.objects.count() == sites
    assert run.job.status == {
        RunStatusChoices.COMPLETED: 'completed', RunStatusChoices.FAILED: 'failed',
        RunStatusChoices.ABORTED: 'failed', RunStatusChoices.ERRORED: 'errored',
    }[status]


def test_log_is_live_and_a_running_run_can_be_cancelled(rq_worker, wait, admin):
    run = submit('behaviours.SlowLogger', admin, {'seconds': 30, 'site_name': 'cancelled'})
    wait(lambda: RunLog(run.pk).count() >= 5, message='log lines while running')
    seen = RunLog(run.pk).count()
    time.sleep(1)
    run.refresh_from_db()
    assert run.status == RunStatusChoices.RUNNING
    assert RunLog(run.pk).count() > seen  # still growing, read from another connection
    assert run.progress_done and run.progress_total == 300

    cancelled_at = time.monotonic()
    cancel_run(run, admin)
    run = finished(run, timeout=15)
    assert run.status == RunStatusChoices.CANCELLED
    assert time.monotonic() - cancelled_at < 10
    assert not Site.objects.filter(name='cancelled').exists()
    assert 'Cancelled while running; all changes were rolled back.' in [line.message for line in run.log_entries]


def test_timeout_rolls_back(rq_worker, admin):
    run = finished(submit('behaviours.Sleepy', admin, {'seconds': 30}))
    assert run.status == RunStatusChoices.TIMED_OUT
    assert run.job_timeout == 3
    assert not Site.objects.filter(name='sleepy').exists()
    assert any(line.message.startswith('tick') for line in run.log_entries)  # the log up to the timeout is kept


def test_meta_queue_sends_the_job_to_its_queue(rq_worker, admin):
    run = submit('behaviours.Urgent', admin)
    assert run.queue == 'high' and run.job.queue_name == 'high'
    assert finished(run).status == RunStatusChoices.COMPLETED


def test_dry_run_diff_lists_exactly_what_the_commit_creates(rq_worker, admin):
    dry = finished(submit('behaviours.CreateSites', admin, {'prefix': 'diff', 'count': 3}, commit=False))
    assert not Site.objects.filter(name__startswith='diff').exists()
    applied = finished(rerun(dry, user=admin, source=RunSourceChoices.API, commit=True))
    would = sorted((c.action, c.object_repr) for c in dry.changes.all())
    did = sorted((c.action, c.object_repr) for c in applied.changes.all())
    assert would == did == [('create', f'diff-{i}') for i in range(3)]
    assert sorted(Site.objects.values_list('name', flat=True)) == [f'diff-{i}' for i in range(3)]
    assert applied.changes.get(object_repr='diff-0').object_id == Site.objects.get(name='diff-0').pk


def test_watchdog_runs_every_minute():
    assert registry['system_jobs'][RunWatchdogJob]['interval'] == 1


def test_killed_worker_run_is_marked_errored_within_a_minute(rq_worker, wait, admin):
    worker = start_worker('low')
    try:
        run = submit('behaviours.LowQueueSleeper', admin, {'seconds': 120, 'site_name': 'killed'})
        wait(lambda: RunLog(run.pk).count() >= 10, timeout=60, message='the run to log')
        for pid in [worker.pid, *descendants(worker.pid)]:  # the worker, its work-horse and scheduler, mid-run
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        worker.wait(timeout=10)
        lines_before = RunLog(run.pk).count()

        # The watchdog system job (run here by the other worker) notices the silence.
        time.sleep(HEARTBEAT_TIMEOUT.total_seconds() + 1)
        RunWatchdogJob.enqueue()
        run = finished(run, timeout=30)
        assert time.monotonic() - killed_at < 60
        assert run.status == RunStatusChoices.ERRORED
        assert 'stopped' in run.error
        assert RunLog(run.pk).count() >= lines_before  # the log up to the crash is kept
        assert not Site.objects.filter(name='killed').exists()  # the open transaction died with the process
    finally:
        for pid in [worker.pid, *descendants(worker.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    connections.close_all()


def test_a_singleton_busy_when_its_run_starts_is_refused_not_errored(rq_worker, wait, admin):
    # A scheduled run passes the singleton check when it is submitted; when its time comes another run is going.
    worker = start_worker('default')  # a second worker, so that both can start at once
    try:
        script = Script.objects.get(module__name='behaviours', class_name='Singleton')
        first = submit_run(script, user=admin, data={'seconds': 15}, commit=False, source=RunSourceChoices.API)
        wait(lambda: ScriptRun.objects.get(pk=first.pk).status == RunStatusChoices.RUNNING, message='the first run')
        second = submit_run(script, user=admin, data={'seconds': 1}, commit=False, source=RunSourceChoices.API,
                            schedule_at=timezone.now() + datetime.timedelta(seconds=2))
        second = finished(second, timeout=60)
        assert second.status == RunStatusChoices.REFUSED, (second.status, second.error)
        assert 'singleton' in second.error and not second.traceback
        assert second.job.status == 'failed'  # a refusal, not a crash
        assert finished(first, timeout=60).status == RunStatusChoices.COMPLETED
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    connections.close_all()
