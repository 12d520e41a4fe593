"""
The plugin's pages are part of NetBox: a "Custom Scripts" menu, script and module lists and detail pages, each
shown only to users allowed to view them.
"""
import pytest
from django.test import Client
from django.urls import reverse

from netbox_custom_scripts.execution.modules import sync_directory
from netbox_custom_scripts.models import Script, ScriptModule

from .utils import make_user

pytestmark = pytest.mark.django_db

SCRIPT_LIST = reverse('plugins:netbox_custom_scripts:script_list')
MODULE_LIST = reverse('plugins:netbox_custom_scripts:scriptmodule_list')


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_menu_and_script_list_for_a_viewer():
    viewer = make_user('viewer', (Script, ['view']), (ScriptModule, ['view']))
    response = client_for(viewer).get(SCRIPT_LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'Custom Scripts' in page  # the plugin menu
    assert 'Say hello' in page       # tests/fixtures/scripts/basic.py, synced on first view
    assert ScriptModule.objects.filter(name='basic').exists()


def test_lists_and_details_render():
    admin = make_user('admin', is_superuser=True)
    client = client_for(admin)
    sync_directory()
    module = ScriptModule.objects.get(name='basic')
    script = Script.objects.get(module=module, class_name='Hello')
    for url in (MODULE_LIST, module.get_absolute_url(), script.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 200, url
    assert 'class Hello(Script)' in client.get(module.get_absolute_url()).content.decode()


def test_anonymous_is_sent_to_login():
    response = Client().get(SCRIPT_LIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse('login'))


def test_user_without_permission_is_refused():
    nobody = make_user('nobody')
    assert client_for(nobody).get(SCRIPT_LIST).status_code == 403
    assert client_for(nobody).get(MODULE_LIST).status_code == 403


def test_sync_button_needs_the_sync_permission():
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_sync')
    editor = make_user('editor', (ScriptModule, ['view', 'change']))
    assert client_for(editor).post(url).status_code == 403
    syncer = make_user('syncer', (ScriptModule, ['view', 'sync']))
    response = client_for(syncer).post(url)
    assert response.status_code == 302


def test_hidden_scripts_are_listed_only_for_script_editors():
    from rest_framework.test import APIClient

    from .utils import token_header

    runner = make_user('runner', (Script, ['view', 'run']))
    editor = make_user('editor', (Script, ['view', 'change']))
    assert 'Maintenance' not in client_for(runner).get(SCRIPT_LIST).content.decode()
    assert 'Maintenance' in client_for(editor).get(SCRIPT_LIST).content.decode()
    hidden = Script.objects.get(class_name='Maintenance')
    assert client_for(runner).get(hidden.get_absolute_url()).status_code == 200  # not a permission
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(runner))
    names = {s['full_name'] for s in api.get('/api/plugins/custom-scripts/scripts/').json()['results']}
    assert 'behaviours.Maintenance' not in names and 'basic.Hello' in names
