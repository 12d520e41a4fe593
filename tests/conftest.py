import os
import subprocess
import time

import pytest
from django.conf import settings

from netbox_custom_scripts.execution import clear_caches

from .utils import REPO, make_user, start_worker, wait_for


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
    # The `low` queue is left to workers that tests start (and kill) themselves: see start_worker().
    process = start_worker('high', 'default', log_name='test-rqworker.log', append=False)
    log_path = os.path.join(REPO, '.netbox', 'test-rqworker.log')
    from rq import Worker

    deadline = time.monotonic() + 60
    while not Worker.all(connection=redis_connection):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'The test RQ worker did not start; see {log_path}')
        time.sleep(0.2)
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def wait():
    return wait_for


@pytest.fixture
def admin():
    """A superuser named admin (suites that need more, such as their scripts synced, extend it in their conftest)."""
    return make_user('admin', is_superuser=True)


def pytest_report_header(config):
    test = settings.DATABASES['default']['TEST']
    return f'test database: {test["NAME"]}, cloned from template {test.get("TEMPLATE") or "(none: full migrate)"}'
