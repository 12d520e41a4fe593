"""
The web UI's run flow: the script page's form (variables in form order, the "Script Execution Parameters" group,
pre-fill from the URL or an earlier run), its server-side validation and permission checks, and the run page with
its log, changes, output, files, cancel, re-run and apply - each shown only to those allowed.
"""
import pytest
from dcim.models import Site
from django.test import Client
from django.urls import reverse

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import submit_run, sync_directory
from netbox_custom_scripts.models import Script, ScriptRun

from .utils import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def scripts():
    sync_directory()
    return {s.full_name: s for s in Script.objects.all()}


def test_form_shows_variables_and_execution_parameters(scripts, admin):
    page = client_for(admin).get(scripts['behaviours.CreateSites'].get_absolute_url()).content.decode()
    assert page.index('name="prefix"') < page.index('name="count"') < page.index('name="fail_after"')
    assert 'Script Execution Parameters' in page
    assert 'name="_commit"' in page and 'name="_cron"' in page and 'name="_interval"' in page
    # commit_default = False on this script: the box is not checked
    commit_box = page[page.index('name="_commit"') - 200:page.index('name="_commit"') + 80]
    assert 'checked' not in commit_box


def test_prefill_from_url_and_from_an_earlier_run(scripts, admin):
    client = client_for(admin)
    url = scripts['behaviours.CreateSites'].get_absolute_url()
    assert 'value="from-url"' in client.get(f'{url}?prefix=from-url').content.decode()
    earlier = submit_run(scripts['behaviours.CreateSites'], user=admin, data={'prefix': 'earlier', 'count': 1},
                         source=RunSourceChoices.CLI, immediate=True)
    assert 'value="earlier"' in client.get(f'{url}?rerun={earlier.pk}').content.decode()


def test_valid_post_starts_a_run(scripts, admin):
    response = client_for(admin).post(scripts['basic.Hello'].get_absolute_url(), {'who': 'form', '_commit': 'on'})
    assert response.status_code == 302
    run = ScriptRun.objects.get()
    assert response.url == run.get_absolute_url()
    assert run.source == RunSourceChoices.UI and run.commit and run.inputs == {'who': 'form'}


def test_invalid_post_shows_errors_and_starts_nothing(scripts, admin):
    url = scripts['behaviours.CreateSites'].get_absolute_url()
    response = client_for(admin).post(url, {'prefix': 'x', 'count': 5000})
    assert response.status_code == 200
    assert 'Ensure this value is less than or equal to 1000' in response.content.decode()
    assert not ScriptRun.objects.exists()


def test_scheduling_disabled_hides_and_refuses_scheduling(admin, tmp_path):
    (tmp_path / 'nosched.py').write_text(
        'from netbox_custom_scripts.scripts import Script\n\n'
        'class NoSchedule(Script):\n'
        '    class Meta:\n'
        '        scheduling_enabled = False\n\n'
        '    def run(self, data, commit):\n'
        '        pass\n'
    )
    sync_directory(root=str(tmp_path))
    script = Script.objects.get(class_name='NoSchedule')
    client = client_for(admin)
    page = client.get(script.get_absolute_url()).content.decode()
    assert 'name="_interval"' not in page and 'name="_schedule_at"' not in page
    client.post(script.get_absolute_url(), {'_interval': '60'})
    assert ScriptRun.objects.get().schedule is None  # the field is not part of the form: ignored


def test_viewer_cannot_run(scripts):
    viewer = make_user('viewer', (Script, ['view']))
    client = client_for(viewer)
    url = scripts['basic.Hello'].get_absolute_url()
    page = client.get(url).content.decode()
    assert 'You do not have permission to run this script' in page
    assert client.post(url, {'who': 'x'}).status_code == 403
    assert not ScriptRun.objects.exists()


def test_run_page_log_changes_and_dry_run_apply(scripts, admin):
    client = client_for(admin)
    run = submit_run(scripts['behaviours.CreateSites'], user=admin, data={'prefix': 'ui', 'count': 2},
                     commit=False, source=RunSourceChoices.UI, immediate=True)
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'Dry run' in page and 'id="apply-run"' in page and 'id="cancel-run"' not in page
    log = client.get(reverse('plugins:netbox_custom_scripts:scriptrun_log', args=[run.pk])).content.decode()
    assert 'Created ui-0' in log and 'Dry run: all changes were rolled back.' in log
    assert '/dcim/sites/' not in log  # the dry run's sites never existed: no dead links
    filtered = client.get(reverse('plugins:netbox_custom_scripts:scriptrun_log', args=[run.pk]),
                          {'level': 'success', 'q': 'ui-1'}).content.decode()
    assert 'Created ui-1' in filtered and 'Created ui-0' not in filtered
    changes = client.get(reverse('plugins:netbox_custom_scripts:scriptrun_changes', args=[run.pk])).content.decode()
    assert 'would be made, and were rolled back' in changes and changes.count('class="list-group-item run-change"') == 2
    output = client.get(reverse('plugins:netbox_custom_scripts:scriptrun_output', args=[run.pk]), {'export': 1})
    assert output['Content-Disposition'].endswith('.json"')

    response = client.post(reverse('plugins:netbox_custom_scripts:scriptrun_rerun', args=[run.pk]), {'commit': '1'})
    applied = ScriptRun.objects.exclude(pk=run.pk).get()
    assert response.url == applied.get_absolute_url()
    assert applied.commit and applied.rerun_of == run and applied.source == RunSourceChoices.UI
    assert applied.status == RunStatusChoices.PENDING  # queued for a worker


def test_log_links_objects_that_exist(scripts, admin):
    run = submit_run(scripts['behaviours.CreateSites'], user=admin, data={'prefix': 'real', 'count': 1},
                     commit=True, source=RunSourceChoices.UI, immediate=True)
    log = client_for(admin).get(reverse('plugins:netbox_custom_scripts:scriptrun_log', args=[run.pk])).content.decode()
    assert f'href="{Site.objects.get(name="real-0").get_absolute_url()}"' in log


def test_run_pages_respect_permissions(scripts, admin):
    run = submit_run(scripts['basic.Hello'], user=admin, source=RunSourceChoices.CLI, immediate=True)
    urls = [run.get_absolute_url()] + [
        reverse(f'plugins:netbox_custom_scripts:scriptrun_{view}', args=[run.pk])
        for view in ('log', 'status', 'changes', 'output')
    ]
    nobody = client_for(make_user('nobody'))
    for url in urls:
        assert nobody.get(url).status_code in (403, 404), url
    viewer = client_for(make_user('viewer', (ScriptRun, ['view'])))
    for url in urls:
        assert viewer.get(url).status_code == 200, url
    # Viewing is not running: re-run needs `run` on the script, cancel needs `cancel` on the run.
    assert viewer.post(reverse('plugins:netbox_custom_scripts:scriptrun_rerun', args=[run.pk])).status_code == 403
    assert ScriptRun.objects.count() == 1
    assert viewer.post(reverse('plugins:netbox_custom_scripts:scriptrun_cancel', args=[run.pk])).status_code == 404


def test_run_list_filters(scripts, admin):
    submit_run(scripts['basic.Hello'], user=admin, source=RunSourceChoices.CLI, immediate=True)
    submit_run(scripts['behaviours.LogFailure'], user=admin, commit=True, source=RunSourceChoices.CLI, immediate=True)
    client = client_for(admin)
    url = reverse('plugins:netbox_custom_scripts:scriptrun_list')
    failed = client.get(url, {'status': 'failed'}).content.decode()
    assert 'behaviours.LogFailure' in failed and 'basic.Hello' not in failed
    assert Site.objects.count() == 0
