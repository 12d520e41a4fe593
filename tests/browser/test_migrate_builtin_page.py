"""
The "Move from built-in scripts" page in a real browser, against a live server and a real RQ worker: open it from
the menu, read the plan, apply, watch the job's progress page update itself until the result is there, verify and
clean up. A user who may not migrate is refused the page and does not see the menu item.
"""
import re

import pytest
from django.core.files.storage import storages
from extras.models import Script as BuiltinScript
from playwright.sync_api import expect

from netbox_custom_scripts.models import ScriptModule

from ..builtin_uploads import INVENTORY, INVENTORY_SOURCE, add_builtin_module
from .helpers import login, user_with_password

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def builtin_inventory():
    module = add_builtin_module(INVENTORY, INVENTORY_SOURCE)
    yield module
    if storages['scripts'].exists(f'{INVENTORY}.py'):
        storages['scripts'].delete(f'{INVENTORY}.py')


def test_plan_apply_progress_verify_cleanup(live_server, rq_worker, page, screenshot, builtin_inventory):
    user_with_password('wmig-admin', is_superuser=True)
    login(page, live_server, 'wmig-admin', 'wmig-admin-password-1')
    page.get_by_text('Custom Scripts', exact=True).first.click()
    page.get_by_role('link', name='Move from built-in scripts').first.click()
    expect(page).to_have_url(re.compile(r'/plugins/custom-scripts/modules/migrate-builtin/$'))

    plan = page.locator('#migrate-plan')
    expect(plan).to_contain_text(INVENTORY)
    expect(plan.locator('tr.migrate-item[data-kind="module"]')).to_have_count(1)
    expect(plan.locator('tr.migrate-item[data-kind="script"]')).to_have_count(
        BuiltinScript.objects.filter(module=builtin_inventory).count())
    expect(page.locator('#migrate-summary')).to_contain_text('move')
    screenshot('migrate-01-plan')

    page.click('#migrate-apply')
    expect(page).to_have_url(re.compile(r'/plugins/custom-scripts/modules/migrate-builtin/jobs/\d+/$'))
    # The page polls the job: no reload needed to see it finish.
    expect(page.locator('#migrate-job-card')).to_have_attribute('data-status', 'completed', timeout=90000)
    expect(page.locator('#migrate-moved')).to_have_text(INVENTORY)
    expect(page.locator('#migrate-log')).to_contain_text(f'moved: {INVENTORY}')
    expect(page.locator('#migrate-progress')).to_contain_text('100%')
    screenshot('migrate-02-done')
    assert ScriptModule.objects.filter(name=INVENTORY).exists()

    page.click('#migrate-verify-after')
    expect(page.locator('#migrate-verify-ok')).to_be_visible()
    screenshot('migrate-03-verified')
    page.click('#migrate-cleanup')
    expect(page).to_have_url(re.compile(r'/plugins/custom-scripts/modules/migrate-builtin/$'))
    expect(page.locator('body')).to_contain_text('Cleanup done')
    screenshot('migrate-04-cleaned-up')


def test_a_user_who_may_not_migrate_is_refused(live_server, page, builtin_inventory):
    user_with_password('wmig-viewer', (ScriptModule, ['view']))
    login(page, live_server, 'wmig-viewer', 'wmig-viewer-password-1')
    page.goto(f'{live_server.url}/plugins/custom-scripts/modules/')
    expect(page.get_by_role('link', name='Move from built-in scripts')).to_have_count(0)
    response = page.goto(f'{live_server.url}/plugins/custom-scripts/modules/migrate-builtin/')
    assert response.status == 403
