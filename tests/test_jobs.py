"""
The sync job runs through a real RQ worker process (real Redis, the test database): the API queues it, the worker
registers the modules of the scripts directory, and the core Job records the outcome.
"""
import pytest
from core.choices import JobStatusChoices
from core.models import Job
from rest_framework.test import APIClient

from netbox_custom_scripts.models import ScriptModule

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_job_runs_in_a_real_worker(rq_worker, wait):
    editor = make_user('editor', (ScriptModule, ['view', 'sync']))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(editor))
    response = client.post('/api/plugins/custom-scripts/modules/sync/')
    assert response.status_code == 202, response.content
    job_id = response.json()['id']
    assert response.json()['status']['value'] == JobStatusChoices.STATUS_PENDING

    job = wait(
        lambda: Job.objects.filter(pk=job_id, status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).first(),
        message='the sync job to finish',
    )
    assert job.status == JobStatusChoices.STATUS_COMPLETED, job.log_entries
    assert job.user == editor
    assert 'basic' in job.data['created']
    assert ScriptModule.objects.get(name='basic').scripts.count() == 2


GOOD_MODULE = 'from netbox_custom_scripts.scripts import Script\n\n\nclass Watched(Script):\n    pass\n'


def _with_scripts_dir(settings, path, **more):
    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=str(path), **more)
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}


def test_the_directory_watch_is_a_system_job_only_when_configured(settings, tmp_path):
    from netbox.registry import registry

    from netbox_custom_scripts.jobs import ScriptsDirectoryWatchJob, schedule_directory_sync

    try:
        _with_scripts_dir(settings, tmp_path, scripts_dir_sync_interval=None)
        schedule_directory_sync()
        assert ScriptsDirectoryWatchJob not in registry['system_jobs']
        _with_scripts_dir(settings, tmp_path, scripts_dir_sync_interval=5)
        schedule_directory_sync()
        assert registry['system_jobs'][ScriptsDirectoryWatchJob] == {'interval': 5}
    finally:
        registry['system_jobs'].pop(ScriptsDirectoryWatchJob, None)


def test_the_directory_watch_registers_a_new_file_and_a_page_view_does_not(settings, tmp_path):
    from django.test import Client

    from netbox_custom_scripts.jobs import ScriptsDirectoryWatchJob

    _with_scripts_dir(settings, tmp_path)
    (tmp_path / 'watched.py').write_text(GOOD_MODULE)
    client = Client()
    client.force_login(make_user('admin', is_superuser=True))
    # No GET writes: listing scripts or modules, on a page or the API, registers nothing.
    for url in ('/plugins/custom-scripts/scripts/', '/plugins/custom-scripts/modules/',
                '/api/plugins/custom-scripts/scripts/', '/api/plugins/custom-scripts/modules/'):
        assert client.get(url).status_code == 200, url
    assert not ScriptModule.objects.filter(name='watched').exists()

    job = ScriptsDirectoryWatchJob.enqueue(immediate=True)
    job.refresh_from_db()
    assert job.status == JobStatusChoices.STATUS_COMPLETED, job.log_entries
    assert ScriptModule.objects.get(name='watched').scripts.get().class_name == 'Watched'
