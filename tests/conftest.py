import ctypes
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from netbox_custom_scripts.execution import clear_caches

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def fresh_module_state():
    """Each test sees the database it set up, not what an earlier (rolled back) test synced or imported."""
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope='session')
def redis_connection():
    import django_rq

    return django_rq.get_connection('default')


QUEUES = ('high', 'default', 'low')
_worker = {}


def drain_queues(connection):
    """Stop the test worker from taking jobs, let it finish the one it has, and drop every queued job."""
    from rq import Queue, Worker
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.suspension import suspend

    def alive(worker):
        try:
            os.kill(worker.pid, 0)
            return True
        except (OSError, TypeError):
            return False  # a worker a test killed stays registered in Redis for a while

    suspend(connection)
    deadline = time.monotonic() + 60
    while any(worker.get_state() == 'busy' and alive(worker) for worker in Worker.all(connection=connection)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        queue.empty()
        for registry in (queue.scheduled_job_registry, queue.failed_job_registry, queue.finished_job_registry):
            for job_id in registry.get_job_ids():
                try:
                    registry.remove(job_id, delete_job=True)
                except (ValueError, NoSuchJobError):
                    # RQ can expire a job's execution record before the job (a worker stopped mid-cleanup): then
                    # the job cannot delete itself, so drop what is left of it by key.
                    registry.remove(job_id)
                    connection.delete(Job.key_for(job_id))


@pytest.fixture(autouse=True)
def isolate_background_jobs(redis_connection):
    """Jobs a test queued must not run against the next test's data: drain them before the database is reset."""
    yield
    drain_queues(redis_connection)


@pytest.fixture
def rq_worker(rq_worker_process, redis_connection):
    """
    A real `netbox rqworker` process on the test database and the test Redis databases, taking jobs for this test.
    Tests that use it must commit their data (transactional_db), since the worker has its own database connection.
    """
    from rq.suspension import resume

    resume(redis_connection)
    return rq_worker_process


@pytest.fixture(scope='session')
def rq_worker_process(django_db_setup, django_db_blocker, redis_connection):
    redis_connection.flushdb()
    env = dict(os.environ)
    env['NB_DB_NAME'] = settings.DATABASES['default']['NAME']
    log_path = os.path.join(REPO, '.netbox', 'test-rqworker.log')
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, 'wb')
    netbox = os.path.join(os.path.dirname(sys.executable), 'netbox')
    # The `low` queue is left to workers that tests start (and kill) themselves: see start_worker().
    process = subprocess.Popen(
        [netbox, 'rqworker', '--skip-checks', 'high', 'default'],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_die_with_the_test_run,
    )
    from rq import Worker

    deadline = time.monotonic() + 60
    while not Worker.all(connection=redis_connection):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'The test RQ worker did not start; see {log_path}')
        time.sleep(0.2)
    _worker['process'] = process
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _die_with_the_test_run():
    # A worker left behind by a killed test run would take the next run's jobs from the same Redis database and
    # run them against the old database: have the kernel end it when pytest ends (Linux's parent-death signal).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_worker(*queues, log_name='test-rqworker-extra.log'):
    """Another real worker process (in its own process group, so a test can kill it and its work-horse)."""
    env = dict(os.environ)
    env['NB_DB_NAME'] = settings.DATABASES['default']['NAME']
    log = open(os.path.join(REPO, '.netbox', log_name), 'ab')
    netbox = os.path.join(os.path.dirname(sys.executable), 'netbox')
    return subprocess.Popen(
        [netbox, 'rqworker', '--skip-checks', *queues],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_die_with_the_test_run,
    )


def descendants(pid):
    """PIDs of every process below `pid` (RQ puts its work-horse in a process group of its own)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_for(predicate, timeout=30, interval=0.1, message='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f'Timed out after {timeout} s waiting for {message}')


@pytest.fixture
def wait():
    return wait_for


def pytest_report_header(config):
    test = settings.DATABASES['default']['TEST']
    return f'test database: {test["NAME"]}, cloned from template {test.get("TEMPLATE") or "(none: full migrate)"}'
