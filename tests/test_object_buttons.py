"""
Scripts that declare Meta.object_types get a "Run script" button on those objects' pages, shown only to users who
may run them, linking to the run form with the object pre-filled; running it records an update with its diff.
"""
import re

import pytest
from dcim.models import Site
from django.test import Client

from netbox_custom_scripts.choices import RunSourceChoices
from netbox_custom_scripts.execution import submit_run, sync_directory
from netbox_custom_scripts.models import Script

from .utils import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site():
    sync_directory()
    return Site.objects.create(name='Old name', slug='old')


def page_for(user, obj):
    client = Client()
    client.force_login(user)
    return client.get(obj.get_absolute_url()).content.decode()


def test_button_for_users_who_may_run(site):
    script = Script.objects.get(class_name='RenameSite')
    runner = make_user('runner', (Site, ['view']), (Script, ['view', 'run'], {'class_name': 'RenameSite'}))
    page = page_for(runner, site)
    assert 'id="custom-scripts-run-buttons"' in page
    assert f'{script.get_absolute_url()}?site={site.pk}' in page
    assert 'Hello' not in page[page.index('custom-scripts-run-buttons'):][:2000]  # only scripts for sites

    viewer = make_user('viewer', (Site, ['view']), (Script, ['view']))
    assert 'custom-scripts-run-buttons' not in page_for(viewer, site)


def test_prefilled_form_and_update_diff(site):
    admin = make_user('admin', is_superuser=True)
    script = Script.objects.get(class_name='RenameSite')
    client = Client()
    client.force_login(admin)
    form = client.get(f'{script.get_absolute_url()}?site={site.pk}').content.decode()
    selected = re.search(r'<option value="(\d+)"\s+selected\s*>([^<]*)</option>', form)
    assert selected and selected.groups() == (str(site.pk), 'Old name')
    run = submit_run(script, user=admin, data={'site': site.pk, 'new_name': 'New name'}, commit=True,
                     source=RunSourceChoices.UI, immediate=True)
    change = run.changes.get()
    assert change.action == 'update'
    removed, added = change.diff
    assert removed['name'] == 'Old name' and added['name'] == 'New name'
    assert 'slug' not in added  # only what changed
    assert change.diff_rows == [('name', 'Old name', 'New name')]
    page = client.get(f'/plugins/custom-scripts/runs/{run.pk}/changes/').content.decode()
    assert f'href="{site.get_absolute_url()}"' in page and '&quot;New name&quot;' in page
