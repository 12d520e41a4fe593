"""
netbox-branching installed but not in PLUGINS (this suite's NetBox): runs behave exactly as without it. A branch
header is ignored as stock NetBox ignores it, a branch asked for by name is a clear 400, the run form offers no
branch options, and nothing imports netbox_branching.
"""
import json
import sys

import pytest
from django.test import Client
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import ScriptRun

from .utils import cli, script_named, token_header

pytestmark = pytest.mark.django_db

API = '/api/plugins/custom-scripts'


@pytest.fixture
def client(admin):
    sync_directory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(admin), HTTP_X_NETBOX_BRANCH='abcd1234')
    return client


def test_a_branch_header_without_branching_runs_in_main(client):
    response = client.post(f'{API}/scripts/behaviours.CreateSites/run/', {'data': {'count': 0}}, format='json')
    assert response.status_code == 201, response.content
    assert response.json()['branch'] is None
    assert ScriptRun.objects.get().branch_id is None


@pytest.mark.parametrize('branch', ['staging', {'new': 'review'}])
def test_asking_for_a_branch_without_branching_is_a_clear_400(client, branch):
    response = client.post(f'{API}/scripts/behaviours.CreateSites/run/', {'data': {}, 'branch': branch}, format='json')
    assert response.status_code == 400, response.content
    assert 'netbox-branching is not installed' in json.dumps(response.json())
    assert not ScriptRun.objects.exists()


def test_cli_branch_without_branching_is_refused(admin):
    sync_directory()
    status, out, err = cli('run', 'behaviours.CreateSites', '--user', 'admin', '--branch', 'staging')
    assert status != 0 and 'netbox-branching is not installed' in out + err
    assert not ScriptRun.objects.exists()


def test_the_run_form_offers_no_branch_options_and_nothing_imports_branching(admin):
    sync_directory()
    client = Client()
    client.force_login(admin)
    script = script_named('behaviours.CreateSites')
    page = client.get(script.get_absolute_url()).content.decode()
    assert '_stage_in_branch' not in page and '_new_branch' not in page and 'id="run-branch"' not in page
    response = client.post(script.get_absolute_url(), {'prefix': 'p', 'count': '0', '_stage_in_branch': 'on',
                                                      '_new_branch': 'x'})
    assert response.status_code == 302
    run = ScriptRun.objects.get()
    assert run.branch_id is None and run.status in (RunStatusChoices.PENDING, RunStatusChoices.RUNNING,
                                                    RunStatusChoices.COMPLETED)
    assert 'netbox_branching' not in sys.modules
