"""
Contract: under load - 500 runs queued at once on one queue served by two real workers - every run is executed
exactly once: each ends *completed* with its core Job completed, each run's marker line is logged once and its
site created once (none lost, none duplicated), no RQ job is left queued or failed, every run has an RQ job of its
own, and both workers took part.
"""
import collections
import time

import pytest
from dcim.models import Site
from rq import Queue

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.models import RunLog, ScriptRun

from ..utils import wait_for
from .helpers import submit, wait_for_worker

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 500
# Both workers must have done a real share of the work, not one job each.
MIN_SHARE = 0.1


def test_500_queued_runs_on_two_workers_run_exactly_once(rq_worker, redis_connection, workers, admin):
    pool = [workers.start('low', name=f'load-{i}') for i in range(2)]
    for worker in pool:
        wait_for_worker(worker, redis_connection, 'low')

    started = time.monotonic()
    runs = {submit('Marker', admin, tag=f'load-{i:03d}').pk: f'load-{i:03d}' for i in range(RUNS)}
    submitted = time.monotonic() - started

    def all_ended():
        return ScriptRun.objects.filter(pk__in=runs, status__in=RunStatusChoices.TERMINAL).count() == RUNS

    wait_for(all_ended, timeout=240, interval=1, message=f'{RUNS} runs to end')
    wait_for(lambda: not ScriptRun.objects.filter(pk__in=runs).exclude(job__status='completed').exists(),
             timeout=30, interval=0.5, message='their jobs to complete')
    elapsed = time.monotonic() - started

    statuses = collections.Counter(ScriptRun.objects.filter(pk__in=runs).values_list('status', flat=True))
    assert statuses == {RunStatusChoices.COMPLETED: RUNS}, statuses

    # One marker line per run, naming that run's tag; one site per tag.
    markers = collections.defaultdict(list)
    for run_id in runs:
        for line in RunLog(run_id, query='marker '):
            if line.message.startswith('marker '):
                markers[run_id].append(line.message.split())
    assert sorted(markers) == sorted(runs), 'runs without a marker line'
    duplicated = {run_id: lines for run_id, lines in markers.items() if len(lines) != 1}
    assert not duplicated, f'runs executed more than once: {duplicated}'
    assert all(markers[run_id][0][1] == tag for run_id, tag in runs.items())
    names = collections.Counter(Site.objects.filter(name__startswith='load-').values_list('name', flat=True))
    assert names == dict.fromkeys(runs.values(), 1)

    # Each run was executed by its own RQ job (the one its core Job names), and the queue is empty, nothing failed.
    job_ids = dict(ScriptRun.objects.filter(pk__in=runs).values_list('pk', 'job__job_id'))
    assert len(set(job_ids.values())) == RUNS
    assert all(markers[run_id][0][3] == str(job_id) for run_id, job_id in job_ids.items())
    queue = Queue('low', connection=redis_connection)
    assert queue.count == 0
    # (Only this test's jobs: an earlier test's killed job may sit in the registry.)
    failed = set(queue.failed_job_registry.get_job_ids()) & {str(job_id) for job_id in job_ids.values()}
    assert not failed, f'failed RQ jobs: {failed}'

    # Both workers took a real share.
    share = collections.Counter(int(lines[0][5]) for lines in markers.values())
    assert set(share) == {worker.pid for worker in pool}, share
    assert min(share.values()) >= MIN_SHARE * RUNS, share
    print(f'{RUNS} runs: submitted in {submitted:.1f} s, all done in {elapsed:.1f} s; per worker: {dict(share)}')
