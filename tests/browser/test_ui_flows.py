"""
The UI in a real browser, against a live server and a real RQ worker: log in, open the plugin menu, fill the
"New Branch" form as a dry run, watch the run's progress and log arrive, read the would-be changes, apply, and see
the objects exist. Text that scripts produce (names, descriptions, labels, log lines, output, file names) carrying
HTML or JavaScript is shown as text and never executes.
"""
import os
import re

import pytest
from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
from playwright.sync_api import expect

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import Script, ScriptRun

from ..utils import REPO
from .helpers import login

pytestmark = pytest.mark.django_db(transaction=True)

def pick(page, field_id, text):
    """Choose an option of NetBox's API-backed select (TomSelect): type, wait for the match, take it."""
    control = page.locator(f'#{field_id}-ts-control')
    control.click()
    control.press_sequentially(text)
    option = page.locator(f'#{field_id}-ts-dropdown .option', has_text=text).first
    expect(option).to_be_visible()
    option.click()
    expect(page.locator(f'#{field_id}')).not_to_have_value('', timeout=15000)
    # Close the dropdown so that it cannot take the keystrokes meant for the next field.
    control.press('Escape')
    expect(page.locator(f'#{field_id}-ts-dropdown')).to_be_hidden()


def wait_for_status(page, label, timeout=60000):
    expect(page.locator('#run-status-badge')).to_have_text(label, timeout=timeout)


@pytest.fixture
def develop_scripts(settings):
    """The demo's script modules (develop/scripts) as the scripts directory."""
    plugin_settings = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'])
    plugin_settings['scripts_dir'] = os.path.join(REPO, 'develop', 'scripts')
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin_settings}
    sync_directory()


def test_new_branch_dry_run_review_and_apply(live_server, rq_worker, page, screenshot, admin, develop_scripts):
    acme = Manufacturer.objects.create(name='Acme', slug='acme')
    DeviceType.objects.create(manufacturer=acme, model='Switch 48', slug='switch-48')
    DeviceRole.objects.create(name='Access Switch', slug='access-switch')

    login(page, live_server, 'admin', 'admin-password-1')
    screenshot('01-home')
    page.get_by_text('Custom Scripts', exact=True).first.click()
    page.locator('a[href="/plugins/custom-scripts/scripts/"]').first.click()
    expect(page.locator('.script-module').first).to_contain_text('New Branch')
    screenshot('02-scripts')

    page.get_by_role('link', name='New Branch').first.click()
    expect(page.locator('#run-form')).to_be_visible()
    page.fill('#id_site_name', 'Branch 42')
    page.fill('#id_switch_count', '12')
    pick(page, 'id_manufacturer', 'Acme')
    pick(page, 'id_switch_model', 'Switch 48')
    page.uncheck('#id__commit')  # New Branch commits by default: make it a dry run
    screenshot('03-run-form')
    page.click('#run-script')

    expect(page).to_have_url(re.compile(r'/plugins/custom-scripts/runs/\d+/$'))
    wait_for_status(page, 'Completed')
    expect(page.locator('#log-table')).to_contain_text('Created new switch: BRANCH-42-SW-12')
    expect(page.locator('#run-progress')).to_contain_text('100%')
    screenshot('04-dry-run')
    dry_run = ScriptRun.objects.get()
    assert not dry_run.commit and not Site.objects.filter(name='Branch 42').exists()

    page.get_by_role('link', name=re.compile('Changes')).click()
    expect(page.locator('#dry-run-notice')).to_be_visible()
    expect(page.locator('.run-change')).to_have_count(13)  # the site and 12 switches
    expect(page.locator('.run-change').first).to_contain_text('Would be created')
    screenshot('05-changes')

    page.goto(f'{live_server.url}{dry_run.get_absolute_url()}')
    page.click('#apply-run')
    expect(page).not_to_have_url(re.compile(rf'/runs/{dry_run.pk}/$'))
    wait_for_status(page, 'Completed')
    screenshot('06-applied')
    applied = ScriptRun.objects.exclude(pk=dry_run.pk).get()
    assert applied.commit and applied.rerun_of == dry_run
    assert Site.objects.filter(name='Branch 42').exists()
    assert Device.objects.filter(site__name='Branch 42').count() == 12


def test_live_progress_and_log_while_running(live_server, rq_worker, page, screenshot, admin):
    sync_directory()
    script = Script.objects.get(class_name='SlowLogger')
    login(page, live_server, 'admin', 'admin-password-1')
    page.goto(f'{live_server.url}{script.get_absolute_url()}')
    page.fill('#id_seconds', '6')
    page.click('#run-script')
    wait_for_status(page, 'Running', timeout=30000)
    expect(page.locator('#log-table')).to_contain_text('step 3', timeout=10000)
    expect(page.locator('#run-progress')).to_be_visible()
    screenshot('07-running')
    assert ScriptRun.objects.get().status == RunStatusChoices.RUNNING  # the log arrived before the end
    wait_for_status(page, 'Completed', timeout=60000)
    # When the run ends, the log shows every line, up to the last one.
    expect(page.locator('#log-table')).to_contain_text('Changes committed.')
    expect(page.locator('#log-table')).to_contain_text('step 59')


def test_script_text_is_shown_as_text(live_server, rq_worker, page, screenshot, admin):
    sync_directory()
    script = Script.objects.get(class_name='Hostile')
    login(page, live_server, 'admin', 'admin-password-1')
    dialogs = []
    page.on('dialog', lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def assert_nothing_ran():
        assert page.evaluate('window.__xss') is None
        assert not dialogs

    for url in ('/plugins/custom-scripts/scripts/', '/plugins/custom-scripts/modules/', script.get_absolute_url()):
        page.goto(f'{live_server.url}{url}')
        page.wait_for_load_state('networkidle')
        assert_nothing_ran()
    expect(page.locator('#run-form')).to_contain_text('Label <img src=x')
    # A variable's description (help text) keeps harmless markup and loses scripts and event handlers.
    expect(page.locator('#id_remark_helptext b')).to_have_text('bold')
    assert page.locator('#id_remark_helptext script, #id_remark_helptext img[onerror]').count() == 0
    screenshot('08-hostile-form')

    page.click('#run-script')
    wait_for_status(page, 'Completed')
    expect(page.locator('#log-table')).to_contain_text('<script>window.__xss="log"</script>')
    expect(page.locator('#log-table strong').first).to_have_text('markdown')  # Markdown still renders
    page.hover('#log-table')
    assert_nothing_ran()
    assert page.locator('#log-table a[href^="javascript"]').count() == 0
    # An object whose URL is javascript: is named, not linked; an http(s) one is linked.
    expect(page.locator('#log-table')).to_contain_text('thing at javascript:')
    assert page.locator('#log-table a', has_text='thing at javascript:').count() == 0
    expect(page.locator('#log-table a', has_text='thing at https://example.com/thing')).to_have_attribute(
        'href', 'https://example.com/thing')
    page.locator('#log-table td', has_text='thing at javascript:').first.click()
    assert_nothing_ran()
    screenshot('09-hostile-run')

    run = ScriptRun.objects.get()
    page.goto(f'{live_server.url}/plugins/custom-scripts/runs/{run.pk}/output/')
    expect(page.locator('#run-output')).to_contain_text('Output <script>')
    assert_nothing_ran()
    page.goto(f'{live_server.url}/plugins/custom-scripts/runs/{run.pk}/files/')
    expect(page.locator('#run-files')).to_contain_text('<img src=x onerror=')
    assert_nothing_ran()
    screenshot('10-hostile-files')
