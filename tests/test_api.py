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


def test_tags_of_each_script_in_a_list_and_in_detail_with_one_query_per_page():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from extras.models import Tag

    viewer = make_user('viewer', (Script, ['view']))
    sync_directory()
    red, blue = Tag.objects.create(name='red', slug='red'), Tag.objects.create(name='blue', slug='blue')
    hello, count = Script.objects.get(class_name='Hello'), Script.objects.get(class_name='Count')
    hello.tags.add(red, blue)
    count.tags.add(red)
    client = api_client(viewer)
    with CaptureQueriesContext(connection) as captured:
        results = client.get(SCRIPTS_URL, {'limit': 1000}).json()['results']
    tags = {item['full_name']: [tag['name'] for tag in item['tags']] for item in results}
    assert tags['basic.Hello'] == ['blue', 'red'] and tags['basic.Count'] == ['red']
    assert all(not names for full_name, names in tags.items() if full_name not in ('basic.Hello', 'basic.Count'))
    assert sum('extras_taggeditem' in query['sql'] for query in captured.captured_queries) == 1
    assert [tag['name'] for tag in client.get(f'{SCRIPTS_URL}{hello.pk}/').json()['tags']] == ['blue', 'red']
    assert client.get(SCRIPTS_URL, {'tag': 'blue'}).json()['count'] == 1  # NetBox's tag filter still applies
