"""
What one short run costs the database, counted query by query: submitting it (the API's path) and executing it (the
worker's path, its queued RQ job performed in this process). The budgets are the counts bench/ measured when the
per-run bookkeeping was cut down (a query added back fails here); the bench compares them with NetBox's own.
The job-start shortcut still tells NetBox the job started: its job_start signal, which event rules listen to.
"""
import pytest
from core.choices import JobStatusChoices
from core.models import Job
from core.signals import job_start
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import ScriptRun

from .utils import make_user, submit

pytestmark = pytest.mark.django_db(transaction=True)

# Submitting: the script's module and revision, the run (with NetBox's change record of it and the event rules that
# record is offered to: 4), the core Job (NetBox's checks and insert: 4), the run's link to its job.
SUBMIT_BUDGET = 12
# Executing: start the Job (1, and its event rules: 1), the run (read, start: 2), the transaction's start and end
# (2), the log (1), the run's end (1), and NetBox's end of the Job (its save, notification, event rules: up to 4).
EXECUTE_BUDGET = 12


class QueriesOfEveryConnection:
    """Every query of this process, on any thread's connection (the recorder writes from a thread of its own)."""

    def __init__(self):
        self.queries = []

    def _wrapper(self, execute, sql, params, many, context):
        self.queries.append(sql)
        return execute(sql, params, many, context)

    def _add(self, sender, connection, **kwargs):
        if self._wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(self._wrapper)

    def __enter__(self):
        connection_created.connect(self._add)
        connection.ensure_connection()
        self._add(None, connection)
        return self

    def __exit__(self, *exc):
        connection_created.disconnect(self._add)
        if self._wrapper in connection.execute_wrappers:
            connection.execute_wrappers.remove(self._wrapper)


def perform_queued_job(run):
    """Perform the run's RQ job here, as a worker's work-horse would (the test worker is suspended)."""
    import django_rq

    queue = django_rq.get_queue(run.queue)
    (rq_job,) = [job for job in queue.jobs if job.kwargs.get('run_id') == run.pk]
    rq_job.perform()
    queue.remove(rq_job)


@pytest.fixture
def hello():
    sync_directory()
    from .utils import script_named

    return script_named('basic.Hello')


def test_submitting_a_short_run_stays_within_its_query_budget(hello):
    admin = make_user('costly-admin', is_superuser=True)
    submit(hello, admin, {'who': 'warm-up'}, commit=False)
    with CaptureQueriesContext(connection) as captured:
        run = submit(hello, admin, {'who': 'counted'}, commit=False)
    queries = [query['sql'] for query in captured.captured_queries]
    assert len(queries) <= SUBMIT_BUDGET, '\n'.join(queries)
    # A script that is not a singleton needs no lock; the module is read once.
    assert not any('pg_advisory' in sql for sql in queries)
    assert sum('FROM "netbox_custom_scripts_scriptmodule"' in sql for sql in queries) <= 1
    assert run.status == RunStatusChoices.PENDING and run.job_id


def test_executing_a_short_run_stays_within_its_query_budget(hello):
    admin = make_user('costly-admin', is_superuser=True)
    warm_up = submit(hello, admin, {'who': 'warm-up'}, commit=False)
    perform_queued_job(warm_up)
    run = submit(hello, admin, {'who': 'counted'}, commit=False)
    with QueriesOfEveryConnection() as counted:
        perform_queued_job(run)
    run.refresh_from_db()
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert len(counted.queries) <= EXECUTE_BUDGET, '\n'.join(counted.queries)
    # A run that changed nothing reads no changes back; a dry run asks for no cancel before it rolls back.
    assert not any('FROM "core_objectchange"' in sql for sql in counted.queries)
    assert not any('"cancel_requested" IS NOT NULL' in sql for sql in counted.queries)
    assert Job.objects.get(pk=run.job_id).status == JobStatusChoices.STATUS_COMPLETED


def test_a_singleton_script_still_takes_its_lock(hello):
    admin = make_user('costly-admin', is_superuser=True)
    with CaptureQueriesContext(connection) as captured:
        submit('behaviours.Singleton', admin, {'seconds': 1}, commit=False)
    assert any('pg_advisory_lock' in query['sql'] for query in captured.captured_queries)


def test_the_job_start_is_signalled_once_and_a_redelivered_job_is_left_alone(hello):
    admin = make_user('costly-admin', is_superuser=True)
    run = submit(hello, admin, {'who': 'signalled'}, commit=False)
    started = []

    def receiver(sender, **kwargs):
        started.append((sender.pk, sender.status))

    job_start.connect(receiver)
    try:
        import django_rq

        queue = django_rq.get_queue(run.queue)
        (rq_job,) = [job for job in queue.jobs if job.kwargs.get('run_id') == run.pk]
        rq_job.perform()
        rq_job.perform()  # delivered again, with the Job as it was queued (pending)
    finally:
        job_start.disconnect(receiver)
        django_rq.get_queue(run.queue).remove(rq_job)
    assert started == [(run.job_id, JobStatusChoices.STATUS_RUNNING)]
    assert ScriptRun.objects.get(pk=run.pk).status == RunStatusChoices.COMPLETED
    assert Job.objects.get(pk=run.job_id).status == JobStatusChoices.STATUS_COMPLETED
