"""
The plugin's pages are part of NetBox: a "Custom Scripts" menu, script and module lists and detail pages, each
shown only to users allowed to view them.
"""
import pytest
from django.test import Client
from django.urls import reverse

from netbox_custom_scripts.execution import sync_directory
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
    sync_directory()  # a page view reads no directory (see test_jobs.py): the watch job or Sync does
    response = client_for(viewer).get(SCRIPT_LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'Custom Scripts' in page  # the plugin menu
    assert 'Say hello' in page       # tests/fixtures/scripts/basic.py


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
    sync_directory()
    assert 'Maintenance' not in client_for(runner).get(SCRIPT_LIST).content.decode()
    assert 'Maintenance' in client_for(editor).get(SCRIPT_LIST).content.decode()
    hidden = Script.objects.get(class_name='Maintenance')
    assert client_for(runner).get(hidden.get_absolute_url()).status_code == 200  # not a permission
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(runner))
    names = {s['full_name'] for s in api.get('/api/plugins/custom-scripts/scripts/').json()['results']}
    assert 'behaviours.Maintenance' not in names and 'basic.Hello' in names


@pytest.mark.django_db(transaction=True)
def test_script_list_groups_by_module_with_last_runs_and_broken_modules(tmp_path, settings):
    from netbox_custom_scripts.choices import RunSourceChoices
    from netbox_custom_scripts.execution import submit_run

    admin = make_user('admin', is_superuser=True)
    sync_directory()
    submit_run(Script.objects.get(class_name='Hello'), user=admin, source=RunSourceChoices.CLI, immediate=True)
    (tmp_path / 'broken.py').write_text('def oops(:\n')
    (tmp_path / 'good.py').write_text('from netbox_custom_scripts.scripts import Script\n\nclass Zed(Script):\n'
                                      '    pass\n\nclass Alpha(Script):\n    pass\n')
    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=str(tmp_path))
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}
    sync_directory()
    page = client_for(admin).get(SCRIPT_LIST).content.decode()
    assert page.index('data-script="good.Alpha"') < page.index('data-script="good.Zed"')  # alphabetical
    assert 'Syntax error' in page and 'module-error' in page  # the broken module, with its error
    filtered = client_for(admin).get(SCRIPT_LIST, {'q': 'zed'}).content.decode()
    assert 'good.Zed' in filtered and 'good.Alpha' not in filtered and 'module-error' not in filtered


@pytest.mark.django_db(transaction=True)
def test_last_run_shown(settings):
    from netbox_custom_scripts.choices import RunSourceChoices
    from netbox_custom_scripts.execution import submit_run

    admin = make_user('admin', is_superuser=True)
    sync_directory()
    run = submit_run(Script.objects.get(class_name='Hello'), user=admin, source=RunSourceChoices.CLI,
                     immediate=True)
    page = client_for(admin).get(SCRIPT_LIST).content.decode()
    row = page[page.index('data-script="basic.Hello"'):][:1500]
    assert run.get_absolute_url() in row and 'Completed' in row


def test_menu_lists_every_section_for_an_admin():
    admin = make_user('admin', is_superuser=True)
    page = client_for(admin).get(SCRIPT_LIST).content.decode()
    for url in ('/plugins/custom-scripts/scripts/', '/plugins/custom-scripts/runs/',
                '/plugins/custom-scripts/schedules/', '/plugins/custom-scripts/modules/',
                '/plugins/custom-scripts/schedules/add/', '/plugins/custom-scripts/modules/add/'):
        assert f'href="{url}"' in page, url
    for url in ('/plugins/custom-scripts/schedules/', '/plugins/custom-scripts/schedules/add/',
                '/plugins/custom-scripts/runs/'):
        assert client_for(admin).get(url).status_code == 200, url


def test_a_user_who_may_run_but_not_view_a_script_gets_its_form():
    from netbox_custom_scripts.models import ScriptRun

    sync_directory()
    hello = Script.objects.get(class_name='Hello')
    count = Script.objects.get(class_name='Count')
    runner = make_user('run-only', (Script, ['run'], {'pk': hello.pk}), (ScriptRun, ['view'], {'user': '$user'}))
    client = client_for(runner)
    page = client.get(hello.get_absolute_url())
    assert page.status_code == 200 and 'id="run-form"' in page.content.decode()
    assert 'id="no-run-permission"' not in page.content.decode()
    listing = client.get(SCRIPT_LIST).content.decode()
    assert 'data-script="basic.Hello"' in listing and 'data-script="basic.Count"' not in listing
    assert client.get(count.get_absolute_url()).status_code == 404  # neither view nor run: not there
    response = client.post(hello.get_absolute_url(), {'who': 'me'})
    assert response.status_code == 302
    assert ScriptRun.objects.get().user == runner
