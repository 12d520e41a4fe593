"""
Plain helpers of the reliability suite (its fixtures are in conftest.py): the fixture scripts
(tests/fixtures/reliability), the committed baseline the scripts update and delete, a fingerprint of the tables the
scripts touch (row count and md5 of every row), submitting the fault scripts and waiting for their runs, worker
processes the tests start and stop themselves, the PostgreSQL backends a process holds, a throw-away Redis server,
and the write plan and its log labels that the interruption and crash tests share.
"""
import json
import os
import signal
import socket
import subprocess

import redis
from django.conf import settings
from django.db import connection

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.models import RunLog

from .. import utils
from ..utils import descendants, start_worker, wait_for

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


def submit(class_name, user, commit=True, **data):
    """A run of the `faults` fixture module's `class_name`, as the API submits it (a list `plan` is sent as JSON)."""
    if isinstance(data.get('plan'), list):
        data['plan'] = json.dumps(data['plan'])
    return utils.submit(f'faults.{class_name}', user, data, commit=commit)


def finished(run, timeout=120, job_settled=True):
    """
    Wait for the run to end and (unless `job_settled` is false) for its core Job to end too: the run's record is
    finished inside the job, just before JobRunner.handle() terminates the Job.
    """
    return utils.finished(run, timeout=timeout, interval=0.2, job_settled=job_settled)


def log_messages(run):
    return [line.message for line in RunLog(run.pk)]


def logged(run, prefix, timeout=60):
    """Wait for the run to log a line starting with `prefix`; returns that line."""
    return wait_for(
        lambda: next((line.message for line in RunLog(run.pk) if line.message.startswith(prefix)), None),
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
    return start_worker(*queues, env=env, log_name=f'test-reliability-{name}.log')


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


# The write plan of the interruption and crash tests (each step one write, nested in savepoints), and the log
# labels its steps print.
WRITES = [
    ['site', 'int-a'],
    ['update', 'base-0', 'interrupted'],
    ['delete_ip', '192.0.2.1/24'],
    ['savepoint', [['ip', '10.99.0.1/24'], ['savepoint', [['site', 'int-b'], ['update', 'base-1', 'deep']]]]],
]
WRITE_LABELS = ['0 site', '1 update', '2 delete_ip', '3 savepoint', '3.0 ip', '3.1 savepoint', '3.1.0 site',
                '3.1.1 update']


def session_of(backend):
    """(state, query) of a PostgreSQL backend, or None once it is gone."""
    with connection.cursor() as cursor:
        cursor.execute('SELECT state, query FROM pg_stat_activity WHERE pid = %s', [backend])
        return cursor.fetchone()


def busy(backend):
    """The backend still runs a query or holds an open transaction (and with it the run's locks)."""
    session = session_of(backend)
    return session is not None and (session[0] == 'active' or session[0].startswith('idle in transaction'))


def release(backend):
    """End the run's own session if it lived on, so that it stops holding locks the rest of the suite needs."""
    if busy(backend):
        terminate_backends([backend])
        wait_for(lambda: session_of(backend) is None, timeout=10, message=f'backend {backend} to go')


def assert_next_run_completes(admin):
    follow = finished(submit('Plan', admin, commit=False, plan=[['site', 'follow-up'], ['backend']]))
    assert follow.status == RunStatusChoices.COMPLETED, (follow.error, follow.traceback)
