"""
The REST API lists modules and scripts under /api/plugins/custom-scripts/ with NetBox's token authentication,
pagination and permissions.
"""
import pytest
from rest_framework.test import APIClient

from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import Script, ScriptModule

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db

SCRIPTS_URL = '/api/plugins/custom-scripts/scripts/'
MODULES_URL = '/api/plugins/custom-scripts/modules/'


def api_client(user=None):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def test_list_scripts_with_a_token():
    viewer = make_user('viewer', (Script, ['view']))
    sync_directory()
    response = api_client(viewer).get(SCRIPTS_URL)
    assert response.status_code == 200
    names = {item['full_name'] for item in response.json()['results']}
    assert {'basic.Hello', 'basic.Count'} <= names
    hello = next(item for item in response.json()['results'] if item['full_name'] == 'basic.Hello')
    assert hello['variables'][0] | {'label': ''} == hello['variables'][0] | {'label': ''}
    assert hello['variables'][0]['name'] == 'who'
    assert hello['variables'][0]['default'] == 'world'


def test_retrieve_and_brief_mode():
    viewer = make_user('viewer', (Script, ['view']), (ScriptModule, ['view']))
    client = api_client(viewer)
    sync_directory()
    script = Script.objects.get(class_name='Hello')
    detail = client.get(f'{SCRIPTS_URL}{script.pk}/').json()
    assert detail['module']['name'] == 'basic'
    brief = client.get(f'{SCRIPTS_URL}?brief=1').json()['results'][0]
    assert set(brief) == {'id', 'url', 'display', 'full_name', 'name', 'description'}
    modules = client.get(MODULES_URL).json()
    assert modules['results'][0]['script_count'] == 2


def test_no_token_and_no_permission():
    assert api_client().get(SCRIPTS_URL).status_code == 403
    nobody = make_user('nobody')
    assert api_client(nobody).get(SCRIPTS_URL).status_code == 403


def test_sync_action_needs_the_sync_permission():
    editor = make_user('editor', (ScriptModule, ['view', 'change']))
    assert api_client(editor).post(f'{MODULES_URL}sync/').status_code == 403


def test_filter_values_the_database_rejects_are_400_not_500():
    viewer = make_user('viewer', (Script, ['view']))
    response = api_client(viewer).get(SCRIPTS_URL, {'last_updated': '0043-03-03T03:02:40+19:35'})
    assert response.status_code == 400
    assert 'database rejects' in response.json()['detail'][0]
