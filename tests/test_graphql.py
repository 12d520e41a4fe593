"""
GraphQL: modules, scripts and runs can be read through NetBox's /graphql/ endpoint, with NetBox's object
permissions applied.
"""
import pytest
from rest_framework.test import APIClient
from strawberry_django.optimizer import DjangoOptimizerExtension

from netbox_custom_scripts.choices import RunSourceChoices
from netbox_custom_scripts.execution import submit_run, sync_directory
from netbox_custom_scripts.models import Script, ScriptModule, ScriptRun

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = """
{
  custom_script_module_list { name status scripts { class_name } }
  custom_script_list { name full_name module { name } }
  custom_script_run_list { id status commit script { full_name } log_counts }
}
"""


def query(user, text=QUERY):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    response = client.post('/graphql/', {'query': text}, format='json')
    assert response.status_code == 200, response.content
    assert 'errors' not in response.json(), response.json()['errors']
    return response.json()


def test_read_modules_scripts_and_runs():
    sync_directory()
    admin = make_user('admin', is_superuser=True)
    submit_run(Script.objects.get(class_name='Hello'), user=admin, source=RunSourceChoices.CLI, immediate=True)
    data = query(admin)['data']
    basic = next(m for m in data['custom_script_module_list'] if m['name'] == 'basic')
    assert basic['status'] == 'ok' and {s['class_name'] for s in basic['scripts']} == {'Hello', 'Count'}
    assert {'full_name': 'basic.Hello', 'name': 'Say hello', 'module': {'name': 'basic'}} in data['custom_script_list']
    run = data['custom_script_run_list'][0]
    assert run['script']['full_name'] == 'basic.Hello' and run['status'] == 'completed'


def test_permissions_apply():
    sync_directory()
    hello = Script.objects.get(class_name='Hello')
    admin = make_user('admin', is_superuser=True)
    run = submit_run(hello, user=admin, source=RunSourceChoices.CLI, immediate=True)
    viewer = make_user('viewer', (Script, ['view'], {'id': hello.pk}), (ScriptModule, ['view']))
    data = query(viewer)['data']
    assert [s['full_name'] for s in data['custom_script_list']] == ['basic.Hello']
    assert ScriptRun.objects.count() == 1  # a run exists ...
    assert data['custom_script_run_list'] == []  # ... but no permission on runs: none shown
    run_viewer = make_user('run-viewer', (ScriptRun, ['view']))
    assert [r['id'] for r in query(run_viewer)['data']['custom_script_run_list']] == [str(run.pk)]


def test_names_without_the_optimizer():
    # full_name and content_hash are annotated by the optimizer; without it they are read from the rows.
    sync_directory()
    admin = make_user('admin', is_superuser=True)
    with DjangoOptimizerExtension.disabled():
        data = query(admin, '{ custom_script_list { full_name } custom_script_module_list { name content_hash } }')
    assert {'full_name': 'basic.Hello'} in data['data']['custom_script_list']
    basic = next(m for m in data['data']['custom_script_module_list'] if m['name'] == 'basic')
    assert basic['content_hash'] == ScriptModule.objects.get(name='basic').content_hash


def test_module_trust_state_is_not_exposed():
    sync_directory()
    admin = make_user('admin', is_superuser=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(admin))
    response = client.post('/graphql/', {'query': '{ custom_script_module_list { name source_trust } }'},
                           format='json').json()
    assert 'errors' in response and 'source_trust' in str(response['errors'])
