"""
Contract: answering a GET writes nothing. Pages, HTMX partials and REST reads of scripts, modules, runs and the
built-in migration leave the database as they found it, even where a write is due (a run whose worker died, a
migration job whose worker died, a changed scripts directory): the watchdog and the directory watch, system jobs
on a worker, do those writes.
"""
import datetime
import uuid

import pytest
from core.choices import JobStatusChoices
from core.models import Job
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.jobs import RunWatchdogJob
from netbox_custom_scripts.migrate_builtin.job import MigrateBuiltinJob
from netbox_custom_scripts.models import Script, ScriptRun

from .utils import make_user

pytestmark = pytest.mark.django_db(transaction=True)

UI = '/plugins/custom-scripts'
API = '/api/plugins/custom-scripts'
WRITES = ('INSERT', 'UPDATE', 'DELETE')


@pytest.fixture
def overdue():
    """A run whose worker died mid-run and a migration job whose worker died: each due to be ended."""
    sync_directory()
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    script = Script.objects.get(module__name='basic', class_name='Hello')
    run = ScriptRun.objects.create(
        script=script, script_name=script.full_name, revision=script.module.current_revision, user=None,
        source=RunSourceChoices.API, status=RunStatusChoices.RUNNING, started=long_ago, heartbeat=long_ago,
        commit=False, queue='default',
    )
    job = Job.objects.create(name=MigrateBuiltinJob.name, status=JobStatusChoices.STATUS_PENDING, job_id=uuid.uuid4())
    Job.objects.filter(pk=job.pk).update(created=long_ago)
    return run, job


def writes_of(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [query['sql'] for query in queries if query['sql'].lstrip().upper().startswith(WRITES)]


def test_no_page_or_read_endpoint_writes(overdue, tmp_path, settings):
    run, job = overdue
    client = Client()
    client.force_login(make_user('admin', is_superuser=True))
    urls = [
        f'{UI}/scripts/', f'{UI}/modules/', f'{UI}/runs/', run.get_absolute_url(), f'{run.get_absolute_url()}status/',
        f'{UI}/modules/migrate-builtin/', f'{UI}/modules/migrate-builtin/verify/',
        f'{UI}/modules/migrate-builtin/jobs/{job.pk}/', f'{UI}/modules/migrate-builtin/jobs/{job.pk}/status/',
        f'{API}/scripts/', f'{API}/modules/', f'{API}/runs/', f'{API}/runs/{run.pk}/', f'{API}/migrate-builtin/',
    ]
    # A file the directory has and the database does not: a list must not register it.
    (tmp_path / 'unseen.py').write_text('from netbox_custom_scripts.scripts import Script\n\n\nclass U(Script):\n'
                                        '    pass\n')
    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=str(tmp_path))
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}
    for url in urls:
        assert writes_of(client, url) == [], url
    run.refresh_from_db()
    job.refresh_from_db()
    assert run.status == RunStatusChoices.RUNNING and job.status == JobStatusChoices.STATUS_PENDING


def test_the_watchdog_ends_what_the_pages_leave(overdue):
    run, job = overdue
    RunWatchdogJob.enqueue(immediate=True)
    run.refresh_from_db()
    job.refresh_from_db()
    assert run.status == RunStatusChoices.ERRORED
    assert job.status == JobStatusChoices.STATUS_ERRORED and 'worker' in job.error
