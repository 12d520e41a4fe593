"""
Shared pieces of the reliability suite: the fixture scripts (tests/fixtures/reliability, synced on their own), a
committed baseline of sites and IP addresses the scripts update and delete, a fingerprint of the tables the
scripts touch (row count and md5 of every row), worker processes the tests start and stop themselves, and the
PostgreSQL backends a process holds.
"""
import json
import os
import signal
import socket
import subprocess

import pytest
import redis
from core.choices import JobStatusChoices
from core.models import Job
from dcim.models import Site
from django.conf import settings
from django.db import connection, connections
from ipam.models import IPAddress
from netbox.search.jobs import SearchCacheJob

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import submit_run, sync_directory
from netbox_custom_scripts.models import RunLogEntry, Script, ScriptRun

from ..conftest import descendants, start_worker, wait_for
from ..utils import make_user

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'reliability')

# What the fixture scripts write to, directly or through NetBox (change log, search cache); a fault must leave every
# row of these exactly as it was.
TOUCHED_TABLES = ('dcim_site', 'ipam_ipaddress', 'core_objectchange', 'extras_cachedvalue')

BASE_SITES = tuple(f'base-{i}' for i in range(5))
BASE_IPS = tuple(f'192.0.2.{i}/24' for i in range(1, 6))

# The watchdog promises to end a run whose worker died within a minute.
WATCHDOG_PROMISE = 60


def fingerprint():
    """(row count, md5 of every row in id order) per touched table."""
    result = {}
    with connection.cursor() as cursor:
        for table in TOUCHED_TABLES:
            # The run records themselves are change-logged (audit): only what the scripts wrote counts here.
            where = (
                " WHERE t.changed_object_type_id NOT IN "
                "(SELECT id FROM django_content_type WHERE app_label = 'netbox_custom_scripts')"
                if table == 'core_objectchange' else ''
            )
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t{where}"
            )
            result[table] = cursor.fetchone()
    return result


@pytest.fixture
def admin():
    """The reliability scripts registered (on their own: other directory modules are marked missing), and a user."""
    result = sync_directory(root=FIXTURES, force=True)
    assert not result.errors, result.errors
    return make_user('admin', is_superuser=True)


@pytest.fixture
def baseline(admin, rq_worker):
    """Committed rows for the scripts to update and delete; returns the fingerprint of the touched tables."""
    for name in BASE_SITES:
        Site.objects.create(name=name, slug=name, description='baseline')
    for address in BASE_IPS:
        IPAddress.objects.create(address=address)
    # NetBox indexes them for search in a background job: the baseline is the state after it.
    wait_for(lambda: not Job.objects.filter(name=SearchCacheJob.name).exclude(
        status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).exists(), timeout=30, message='the search cache job')
    result = fingerprint()
    assert result['extras_cachedvalue'][0] >= len(BASE_SITES) + len(BASE_IPS), result
    return result


def submit(class_name, user, commit=True, **data):
    script = Script.objects.get(module__name='faults', class_name=class_name)
    if isinstance(data.get('plan'), list):
        data['plan'] = json.dumps(data['plan'])
    return submit_run(script, user=user, data=data, commit=commit, source=RunSourceChoices.API)


def finished(run, timeout=120, job_settled=True):
    """
    Wait for the run to end and (unless `job_settled` is false) for its core Job to end too: the run's record is
    finished inside the job, just before JobRunner.handle() terminates the Job.
    """
    def ended():
        run_ = ScriptRun.objects.filter(pk=run.pk, status__in=RunStatusChoices.TERMINAL).select_related('job').first()
        if run_ is not None and job_settled and run_.job is not None:
            if run_.job.status not in JobStatusChoices.TERMINAL_STATE_CHOICES:
                return None
        return run_

    return wait_for(ended, timeout=timeout, interval=0.2, message=f'run {run.pk} (and its job) to end')


def log_messages(run):
    return list(RunLogEntry.objects.filter(run_id=run.pk).order_by('pk').values_list('message', flat=True))


def logged(run, prefix, timeout=60):
    """Wait for the run to log a line starting with `prefix`; returns that line."""
    return wait_for(
        lambda: RunLogEntry.objects.filter(run_id=run.pk, message__startswith=prefix).values_list(
            'message', flat=True).first(),
        timeout=timeout, interval=0.1, message=f'run {run.pk} to log {prefix!r}',
    )


def assert_subsequence(expected, messages):
    """Every expected line is in the log, in that order."""
    position = 0
    for line in expected:
        try:
            position = messages.index(line, position) + 1
        except ValueError:
            raise AssertionError(f'log line {line!r} missing (in order) from {messages!r}')


def spawn_worker(*queues, env=None, name='worker'):
    """A real `netbox rqworker` on `queues`, with `env` on top of this process's environment."""
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        return start_worker(*queues, log_name=f'test-reliability-{name}.log')
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def workers():
    """Start worker processes with `workers.start(*queues, env=...)`; every one is stopped at the end of the test."""
    started = []

    class Workers:
        @staticmethod
        def start(*queues, env=None, name='worker'):
            process = spawn_worker(*queues, env=env, name=name)
            started.append(process)
            return process

        @staticmethod
        def kill(process):
            kill_tree(process)

    yield Workers
    for process in started:
        stop_tree(process)
    connections.close_all()


def kill_tree(process):
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def stop_tree(process):
    """Warm shutdown (the worker finishes its job and deregisters), then SIGKILL whatever is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    kill_tree(process)


def wait_for_worker(process, connection_, queue, timeout=60):
    """Wait until `process` is registered in Redis as a worker listening on `queue`."""
    from rq import Worker

    def registered():
        if process.poll() is not None:
            raise AssertionError(f'worker {process.pid} exited with {process.returncode}')
        return any(worker.pid == process.pid and queue in worker.queue_names()
                   for worker in Worker.all(connection=connection_))

    return wait_for(registered, timeout=timeout, interval=0.2, message=f'worker {process.pid} to listen on {queue}')


def db_port():
    return int(settings.DATABASES['default']['PORT'] or 5432)


def pg_backends(pids):
    """
    PostgreSQL backend PIDs (on the test database) of the connections that the processes `pids` hold, matched by
    the client port of their TCP sockets: only those, never anyone else's.
    """
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f'/proc/{pid}/fd')
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f'/proc/{pid}/fd/{fd}')
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(target[8:-1])
    ports = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(':', 1)[1], 16) == db_port():
                ports.add(int(local.rsplit(':', 1)[1], 16))
    if not ports:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY(%s) '
            'AND pid <> pg_backend_pid()',
            [sorted(ports)],
        )
        return sorted(row[0] for row in cursor.fetchall())


def terminate_backends(pids):
    with connection.cursor() as cursor:
        cursor.execute('SELECT pid, pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid', [list(pids)])
        return dict(cursor.fetchall())


def running_horse(worker):
    """Wait for the worker's work-horse (a child that is not RQ's scheduler) and return the pids below the worker."""
    return wait_for(lambda: descendants(worker.pid), timeout=30, message=f'processes below worker {worker.pid}')


class RedisServer:
    """
    A throw-away `redis-server` of the test's own, on a free port with a data directory of its own: tests restart and
    kill it, never the shared Redis. Its persistence is Debian's default: an RDB snapshot (`save 3600 1 300 100 60
    10000`, no AOF), written when Redis is shut down cleanly and loaded when it starts.
    """

    def __init__(self, directory):
        self.directory = str(directory)
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            self.port = probe.getsockname()[1]
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ['redis-server', '--bind', '127.0.0.1', '--port', str(self.port), '--dir', self.directory,
             '--save', '3600 1 300 100 60 10000', '--appendonly', 'no', '--logfile', 'redis.log'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for(self.ping, timeout=10, interval=0.05, message=f'redis-server on port {self.port}')
        return self

    def ping(self):
        if self.process.poll() is not None:
            raise AssertionError(f'redis-server exited with {self.process.returncode}; see {self.directory}')
        try:
            return self.connection().ping()
        except redis.exceptions.ConnectionError:
            return False

    def connection(self, db=0):
        return redis.Redis(host='127.0.0.1', port=self.port, db=db)

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM: a clean shutdown (`systemctl restart`), which saves the snapshot; SIGKILL: a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    def rq_queues(self, db=0):
        """settings.RQ_QUEUES with every queue on this server."""
        return {name: {**params, 'HOST': '127.0.0.1', 'PORT': self.port, 'DB': db}
                for name, params in settings.RQ_QUEUES.items()}

    def worker_env(self):
        """The environment that points a `netbox rqworker` (develop/configuration.py) at this server."""
        return {'NB_REDIS_HOST': '127.0.0.1', 'NB_REDIS_PORT': str(self.port), 'NB_REDIS_TASKS_DB': '0',
                'NB_REDIS_CACHING_DB': '1'}

