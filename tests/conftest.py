import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from netbox_custom_scripts.execution import loader, modules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def fresh_module_state():
    """Each test sees the database it set up, not what an earlier (rolled back) test synced or imported."""
    modules._last_fingerprint.clear()
    loader._cache.clear()
    yield
    modules._last_fingerprint.clear()
    loader._cache.clear()


@pytest.fixture(scope='session')
def redis_connection():
    import django_rq

    return django_rq.get_connection('default')


@pytest.fixture(scope='session')
def rq_worker(django_db_setup, django_db_blocker, redis_connection):
    """
    A real `netbox rqworker` process on the test database and the test Redis databases. Tests that use it must
    commit their data (transactional_db), since the worker has its own database connection.
    """
    redis_connection.flushdb()
    env = dict(os.environ)
    env['NB_DB_NAME'] = settings.DATABASES['default']['NAME']
    log_path = os.path.join(REPO, '.netbox', 'test-rqworker.log')
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, 'wb')
    netbox = os.path.join(os.path.dirname(sys.executable), 'netbox')
    process = subprocess.Popen(
        [netbox, 'rqworker', '--skip-checks', 'high', 'default', 'low'],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
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
