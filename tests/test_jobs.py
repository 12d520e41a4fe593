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
