"""
The "Move from built-in scripts" page, its REST endpoints and its background job, on a stock installation built in
the test with NetBox's own models: uploaded built-in modules in NetBox's `scripts` storage (extras.ScriptModule),
a constrained ObjectPermission on extras.script for a group, and an event rule running a built-in script.

Written as the user who should not be there (no permission, a read-only token, a forged form without CSRF), the
careless one (a typo in a module name, a field the endpoint does not take, a second click on Apply) and the one it
is for (plan, apply on a real RQ worker, progress, result, verify, cleanup).
"""
import datetime
import os
import signal
import threading
import time
import uuid

import pytest
from core.choices import JobStatusChoices
from core.models import Job, ObjectType
from django.core.files.storage import storages
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from extras.models import EventRule
from extras.models import Script as BuiltinScript
from extras.models import ScriptModule as BuiltinModule
from rest_framework.test import APIClient
from users.models import Group, ObjectPermission, Token

from netbox_custom_scripts.choices import ModuleSourceChoices
from netbox_custom_scripts.execution import save_source, upload_path
from netbox_custom_scripts.migrate_builtin import apply_plan, build_plan, verify
from netbox_custom_scripts.migrate_builtin.job import (
    HEARTBEAT_TIMEOUT,
    MigrateBuiltinJob,
    MigrationBusy,
    active_migration_job,
    enqueue_apply,
)
from netbox_custom_scripts.models import Script, ScriptModule

from .builtin_uploads import INVENTORY, INVENTORY_SOURCE, REPORTS, REPORTS_SOURCE, add_builtin_module
from .utils import descendants, make_user, start_worker, token_header

PAGE = reverse('plugins:netbox_custom_scripts:migrate_builtin')
VERIFY_PAGE = reverse('plugins:netbox_custom_scripts:migrate_builtin_verify')
CLEANUP_PAGE = reverse('plugins:netbox_custom_scripts:migrate_builtin_cleanup')
API = reverse('plugins-api:netbox_custom_scripts-api:migrate_builtin-list')
API_VERIFY = reverse('plugins-api:netbox_custom_scripts-api:migrate_builtin-verify')
API_CLEANUP = reverse('plugins-api:netbox_custom_scripts-api:migrate_builtin-cleanup')

def job_url(job):
    return reverse('plugins:netbox_custom_scripts:migrate_builtin_job', kwargs={'pk': job.pk})


def job_status_url(job):
    return reverse('plugins:netbox_custom_scripts:migrate_builtin_job_status', kwargs={'pk': job.pk})


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def api_for(user, write_enabled=True):
    client = APIClient()
    if not write_enabled:
        token = Token(user=user, description='read only', write_enabled=False)
        token.full_clean()
        token.save()
        client.credentials(HTTP_AUTHORIZATION=token.get_auth_header_prefix() + token.token)
    else:
        client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


@pytest.fixture
def installation():
    """A small stock installation: two uploaded modules, a group's constrained permission, an event rule."""
    inventory = add_builtin_module(INVENTORY, INVENTORY_SOURCE)
    reports = add_builtin_module(REPORTS, REPORTS_SOURCE)
    greet = BuiltinScript.objects.get(module=inventory, name='Greet')
    noc = Group.objects.create(name='wmig NOC')
    permission = ObjectPermission.objects.create(name='wmig NOC run', actions=['view', 'run'],
                                                 constraints={'name': 'Greet'})
    permission.object_types.add(ObjectType.objects.get_for_model(BuiltinScript))
    permission.groups.add(noc)
    rule = EventRule.objects.create(
        name='wmig greet on new site', event_types=['object_created'], action_type='script',
        action_object_type=ObjectType.objects.get_for_model(BuiltinScript), action_object_id=greet.pk,
        action_data={'who': 'new site'},
    )
    rule.object_types.add(ObjectType.objects.get(app_label='dcim', model='site'))
    yield {'inventory': inventory, 'reports': reports, 'greet': greet, 'group': noc, 'permission': permission,
           'rule': rule}
    storage = storages['scripts']
    for name in (INVENTORY, REPORTS):
        if storage.exists(f'{name}.py'):
            storage.delete(f'{name}.py')


@pytest.fixture
def admin():
    # Not the shared `admin`: the stock installation of test_migrate_builtin.py has a user of that name.
    return make_user('wmig-admin', is_superuser=True)


@pytest.fixture
def outsider():
    """Everything on the plugin's modules and scripts except `migrate`: still not allowed to move anything."""
    return make_user('wmig-outsider', (ScriptModule, ['view', 'add', 'change', 'delete', 'sync']),
                     (Script, ['view', 'run', 'commit']), (BuiltinScript, ['view', 'run']))


@pytest.fixture
def migrator():
    """Not a superuser: holds the `migrate` action on script modules."""
    return make_user('wmig-migrator', (ScriptModule, ['migrate']))


def world_state():
    """What a refused request must leave alone."""
    return {
        'plugin_modules': sorted(ScriptModule.objects.values_list('name', flat=True)),
        'plugin_scripts': Script.objects.count(),
        'jobs': sorted(Job.objects.values_list('pk', 'status')),
        'permissions': sorted(ObjectPermission.objects.values_list('pk', 'name', 'enabled')),
        'rules': sorted(EventRule.objects.values_list('pk', 'enabled', 'action_object_id')),
        'builtin_modules': sorted(BuiltinModule.objects.values_list('pk', 'file_path')),
    }


def migration_jobs():
    return MigrateBuiltinJob.get_jobs()


#
# Who may see and do it
#

@pytest.mark.django_db
class TestRefused:
    def test_page_and_every_endpoint_refused_without_the_permission(self, installation, outsider):
        before = world_state()
        ui, api = client_for(outsider), api_for(outsider)
        assert ui.get(PAGE).status_code == 403
        assert ui.post(PAGE, {'only': INVENTORY}).status_code == 403
        assert ui.get(VERIFY_PAGE).status_code == 403
        assert ui.post(CLEANUP_PAGE).status_code == 403
        assert api.get(API).status_code == 403
        assert api.post(API, {'only': [INVENTORY]}, format='json').status_code == 403
        assert api.get(API_VERIFY).status_code == 403
        assert api.post(API_CLEANUP, format='json').status_code == 403
        assert world_state() == before
        assert not migration_jobs().exists()

    def test_anonymous_is_sent_to_log_in_and_the_api_answers_401_or_403(self, installation):
        before = world_state()
        response = Client().get(PAGE)
        assert response.status_code == 302 and response.url.startswith(reverse('login'))
        response = Client().post(PAGE, {})
        assert response.status_code in (302, 403) and not migration_jobs().exists()
        for method, url in (('get', API), ('post', API), ('get', API_VERIFY), ('post', API_CLEANUP)):
            assert getattr(APIClient(), method)(url).status_code in (401, 403), (method, url)
        assert world_state() == before

    def test_the_progress_page_of_a_job_is_refused_too(self, installation, outsider, admin):
        job = enqueue_apply(admin, only=[INVENTORY])
        assert client_for(outsider).get(job_url(job)).status_code == 403
        assert client_for(outsider).get(job_status_url(job)).status_code == 403

    def test_a_read_only_token_cannot_apply_or_clean_up(self, installation, admin):
        before = world_state()
        api = api_for(admin, write_enabled=False)
        assert api.get(API).status_code == 200  # reading the plan is fine
        assert api.post(API, {}, format='json').status_code == 403
        assert api.post(API_CLEANUP, format='json').status_code == 403
        assert world_state() == before

    def test_the_menu_item_is_shown_only_to_users_who_may_migrate(self, installation, outsider, migrator):
        modules_page = reverse('plugins:netbox_custom_scripts:scriptmodule_list')
        assert PAGE not in client_for(outsider).get(modules_page).content.decode()
        assert PAGE in client_for(migrator).get(modules_page).content.decode()

    def test_the_migrate_action_is_enough_without_superuser(self, installation, migrator):
        assert client_for(migrator).get(PAGE).status_code == 200
        assert api_for(migrator).get(API).status_code == 200


#
# The plan
#

@pytest.mark.django_db
class TestPlan:
    def test_page_shows_the_plan_of_every_module_and_changes_nothing(self, installation, admin):
        before = world_state()
        response = client_for(admin).get(PAGE)
        assert response.status_code == 200
        page = response.content.decode()
        plan = build_plan().to_dict()
        assert plan['items']
        # Every item of the core's plan is a row, with its kind, built-in item and action.
        assert page.count('class="migrate-item') == len(plan['items'])
        for item in plan['items']:
            assert f'data-kind="{item["kind"]}" data-action="{item["action"]}"' in page
        assert INVENTORY in page and REPORTS in page
        for action, count in plan['summary'].items():
            assert f'{action}: {count}' in page
        assert 'id="migrate-apply"' in page  # something to apply
        assert world_state() == before

    def test_items_that_cannot_be_moved_are_highlighted_with_the_reason(self, installation, admin):
        # A constraint with no exact equivalent on plugin scripts: the plan must refuse it, never widen it.
        odd = ObjectPermission.objects.create(name='wmig odd', actions=['run'],
                                              constraints={'module__data_source__isnull': False, 'pk__gt': 0})
        odd.object_types.add(ObjectType.objects.get_for_model(BuiltinScript))
        odd.users.add(make_user('wmig-odd'))
        blocked = [item for item in build_plan().to_dict()['items'] if item['action'] == 'cannot_move']
        assert blocked, 'the core plans to move a permission it cannot translate exactly'
        page = client_for(admin).get(PAGE).content.decode()
        assert page.count('table-danger') == len(blocked)
        assert 'id="migrate-blocked"' in page
        for item in blocked:
            assert item['reason'] and str(item['reason']).replace("'", '&#x27;').replace('"', '&quot;') in page

    def test_only_narrows_the_plan(self, installation, admin):
        page = client_for(admin).get(PAGE, {'only': REPORTS}).content.decode()
        assert 'module wmig_reports' in page or REPORTS in page
        rows = build_plan(only=[REPORTS]).to_dict()['items']
        assert page.count('class="migrate-item') == len(rows)
        assert all(item['module'] in (REPORTS, None) for item in rows)
        assert f'value="{REPORTS}"' in page  # the filter keeps what was typed, and Apply sends it

    def test_a_typo_in_only_is_a_clear_error_on_the_page_not_a_500(self, installation, admin):
        response = client_for(admin).get(PAGE, {'only': 'wmig_inventroy'})
        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="migrate-error"' in page and 'wmig_inventroy' in page
        assert 'id="migrate-apply"' not in page

    def test_a_bad_history_value_is_an_error_on_the_page_and_queues_nothing(self, installation, admin):
        page = client_for(admin).get(PAGE, {'history': 'maybe'}).content.decode()
        assert 'id="migrate-error"' in page and 'id="migrate-apply"' not in page
        response = client_for(admin).post(PAGE, {'history': 'maybe'}, follow=True)
        assert 'Nothing was queued' in response.content.decode()
        assert not migration_jobs().exists()

    def test_api_plan_is_the_cores_plan(self, installation, admin):
        api = api_for(admin)
        response = api.get(API)
        assert response.status_code == 200
        assert response.json() == build_plan().to_dict()
        assert api.get(API, {'only': f'{REPORTS}, '}).json() == build_plan(only=[REPORTS]).to_dict()
        assert api.get(API, {'history': 'true'}).json() == build_plan(history=True).to_dict()

    @pytest.mark.parametrize('query, key', [
        ({'only': 'wmig_inventroy'}, 'only'),
        ({'only': ','}, 'only'),
        ({'only': 'x' * 10000}, 'only'),
        ({'history': 'maybe'}, 'history'),
    ])
    def test_api_plan_bad_query_is_a_400(self, installation, admin, query, key):
        response = api_for(admin).get(API, query)
        assert response.status_code == 400, response.content
        assert key in response.json()


#
# Apply: input checks, one at a time
#

@pytest.mark.django_db
class TestApplyRequests:
    @pytest.mark.parametrize('body, key', [
        ({'onyl': [INVENTORY]}, 'onyl'),                     # the typo
        ({'only': [INVENTORY], 'dry_run': True}, 'dry_run'),  # a field it does not take
        ({'only': ['wmig_inventroy']}, 'only'),              # a module that does not exist
        ({'only': []}, 'only'),                              # "nothing" is not "everything"
        ({'only': None}, 'only'),                            # nor is null: leave the field out for that
        ({'only': INVENTORY}, 'only'),                       # a string, not a list
        ({'only': ['x' * 300]}, 'only'),
        ({'only': [f'm{i}' for i in range(5000)]}, 'only'),  # the huge input
        ({'history': 'perhaps'}, 'history'),
    ])
    def test_bad_bodies_are_a_400_and_queue_nothing(self, installation, admin, body, key):
        before = world_state()
        response = api_for(admin).post(API, body, format='json')
        assert response.status_code == 400, response.content
        assert key in response.json(), response.json()
        assert world_state() == before

    def test_apply_returns_the_queued_job(self, installation, admin, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks() as callbacks:
            response = api_for(admin).post(API, {'only': [INVENTORY], 'history': True}, format='json')
        assert response.status_code == 202, response.content
        body = response.json()
        job = migration_jobs().get()
        assert body['id'] == job.pk and body['status']['value'] == 'pending'
        assert job.data['only'] == [INVENTORY] and job.data['history'] is True
        assert job.user == admin
        assert len(callbacks) == 1  # enqueued to RQ once the job is committed
        assert not ScriptModule.objects.filter(name=INVENTORY).exists()  # nothing moved before the worker runs

    def test_a_second_apply_while_one_is_queued_is_refused(self, installation, admin):
        api = api_for(admin)
        first = api.post(API, {}, format='json')
        assert first.status_code == 202
        second = api.post(API, {'only': [REPORTS]}, format='json')
        assert second.status_code == 409
        assert f'#{first.json()["id"]}' in second.json()['detail']
        # The page says so too, and sends the user to the job that is running.
        response = client_for(admin).post(PAGE, {'only': REPORTS})
        assert response.status_code == 302 and response.url == reverse(
            'plugins:netbox_custom_scripts:migrate_builtin_job', kwargs={'pk': first.json()['id']})
        assert migration_jobs().count() == 1
        # Cleanup waits for it as well.
        assert api.post(API_CLEANUP, format='json').status_code == 409
        page = client_for(admin).get(PAGE).content.decode()
        assert 'id="migrate-active-job"' in page and 'id="migrate-apply"' not in page

    def test_a_job_whose_worker_died_does_not_block_the_next_apply(self, installation, admin):
        # A job left "running" by a worker killed halfway: its RQ job is gone.
        dead = Job.objects.create(name=MigrateBuiltinJob.name, user=admin, job_id=uuid.uuid4(),
                                  status=JobStatusChoices.STATUS_RUNNING, queue_name='default',
                                  started=timezone.now())
        Job.objects.filter(pk=dead.pk).update(created=timezone.now() - datetime.timedelta(minutes=5))
        response = api_for(admin).post(API, {}, format='json')
        assert response.status_code == 202, response.content
        dead.refresh_from_db()
        assert dead.status == JobStatusChoices.STATUS_ERRORED and 'stopped' in dead.error

    def test_page_apply_queues_a_job_and_redirects_to_its_progress(self, installation, admin):
        response = client_for(admin).post(PAGE, {'only': INVENTORY, 'history': 'on'})
        job = migration_jobs().get()
        assert response.status_code == 302 and response.url == job_url(job)
        assert job.data['only'] == [INVENTORY] and job.data['history'] is True
        page = client_for(admin).get(job_url(job)).content.decode()
        assert 'hx-trigger="every 1s"' in page  # polled while it waits for a worker
        assert 'Waiting for a worker' in page

    def test_page_apply_with_a_typo_queues_nothing(self, installation, admin):
        response = client_for(admin).post(PAGE, {'only': 'wmig_inventroy'}, follow=True)
        assert not migration_jobs().exists()
        assert 'wmig_inventroy' in response.content.decode()

    def test_page_apply_without_csrf_token_is_refused(self, installation, admin):
        before = world_state()
        client = client_for(admin, enforce_csrf_checks=True)
        assert client.post(PAGE, {'only': INVENTORY}).status_code == 403
        assert client.post(CLEANUP_PAGE).status_code == 403
        assert world_state() == before

    def test_api_with_a_session_needs_the_csrf_token(self, installation, admin):
        # The browsable API and scripts in the browser use the session: without the CSRF token, a forged POST.
        before = world_state()
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(admin)
        assert client.post(API, {}, format='json').status_code == 403
        assert client.post(API_CLEANUP, format='json').status_code == 403
        assert world_state() == before

    def test_the_apply_form_carries_a_csrf_token(self, installation, admin):
        page = client_for(admin).get(PAGE).content.decode()
        form = page[page.index('id="migrate-apply-form"'):]
        assert 'csrfmiddlewaretoken' in form[:form.index('</form>')]

    @pytest.mark.parametrize('body, key', [
        ({'force': True}, 'force'),
        ({'only': ['wmig_inventroy']}, 'only'),
        ({'only': []}, 'only'),
        ({'discard_history': 'perhaps'}, 'discard_history'),
    ])
    def test_cleanup_bad_bodies_are_a_400(self, installation, admin, body, key):
        before = world_state()
        response = api_for(admin).post(API_CLEANUP, body, format='json')
        assert response.status_code == 400 and key in response.json(), response.content
        assert world_state() == before


#
# Verify and cleanup rules, before any apply
#

@pytest.mark.django_db
class TestVerifyBeforeApply:
    def test_verify_fails_and_cleanup_is_refused(self, installation, admin):
        before = world_state()
        api = api_for(admin)
        report = api.get(API_VERIFY).json()
        assert report['ok'] is False and report['problems'] == verify().to_dict()['problems']
        response = api.post(API_CLEANUP, format='json')
        assert response.status_code == 409, response.content
        page = client_for(admin).get(VERIFY_PAGE).content.decode()
        assert 'id="migrate-verify-failed"' in page and 'id="migrate-cleanup"' not in page
        for problem in report['problems'][:3]:
            assert str(problem).replace("'", '&#x27;').replace('"', '&quot;') in page
        response = client_for(admin).post(CLEANUP_PAGE, follow=True)
        assert 'Cleanup refused' in response.content.decode()
        assert world_state() == before

    def test_cleanup_keeps_history_that_was_not_imported_unless_told(self, installation, admin):
        """Finished built-in jobs go with their module: cleanup refuses to lose them unless asked to."""
        apply_plan(admin)
        assert verify().ok
        finished = Job.objects.create(
            object_type=ObjectType.objects.get_for_model(BuiltinScript), object_id=installation['greet'].pk,
            name='Greet', user=admin, job_id=uuid.uuid4(), status=JobStatusChoices.STATUS_COMPLETED,
            completed=timezone.now(), data={'log': [], 'output': 'greeted'},
        )
        before = world_state()
        api = api_for(admin)
        response = api.post(API_CLEANUP, format='json')
        assert response.status_code == 409 and 'history' in response.json()['detail']
        response = client_for(admin).post(CLEANUP_PAGE, follow=True)
        assert 'Cleanup refused' in response.content.decode()
        assert world_state() == before and Job.objects.filter(pk=finished.pk).exists()

        response = client_for(admin).post(CLEANUP_PAGE, {'discard_history': 'on'}, follow=True)
        assert 'Cleanup done' in response.content.decode()
        assert not BuiltinModule.objects.filter(file_path__in=(f'{INVENTORY}.py', f'{REPORTS}.py')).exists()
        assert not Job.objects.filter(pk=finished.pk).exists()
        assert set(ScriptModule.objects.values_list('name', flat=True)) >= {INVENTORY, REPORTS}

    def test_verify_api_takes_only(self, installation, admin):
        assert api_for(admin).get(API_VERIFY, {'only': 'nope_module'}).status_code == 400


#
# The whole flow on a real worker
#

def wait_for_job(job, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in JobStatusChoices.TERMINAL_STATE_CHOICES:
            return job
        time.sleep(0.2)
    raise AssertionError(f'job #{job.pk} still {job.status} after {timeout} s: {job.log_entries}')


@pytest.mark.django_db(transaction=True)
def test_apply_verify_cleanup_through_the_page_on_a_worker(rq_worker, installation, admin):
    ui = client_for(admin)
    response = ui.post(PAGE, {'only': INVENTORY})
    job = migration_jobs().get()
    assert response.status_code == 302 and response.url == job_url(job)
    job = wait_for_job(job)
    assert job.status == JobStatusChoices.STATUS_COMPLETED, (job.error, job.log_entries)

    # The module moved: same name, the same classes as plugin scripts; the other module did not.
    module = ScriptModule.objects.get(name=INVENTORY)
    assert set(module.scripts.values_list('class_name', flat=True)) == {'Greet', 'Count'}
    assert not ScriptModule.objects.filter(name=REPORTS).exists()

    # Its permission and event rule came with it: the group may run the plugin's Greet, the rule runs it.
    assert job.data['result']['counts']['permissions'] == 1
    assert job.data['result']['counts']['event_rules'] == 1
    group_permission = ObjectPermission.objects.filter(
        groups=installation['group'], object_types=ObjectType.objects.get_for_model(Script)).get()
    assert set(group_permission.actions) == {'view', 'run'}
    installation['rule'].refresh_from_db()
    assert not installation['rule'].enabled  # the original is kept, disabled, until cleanup

    # Progress and result are on the job, and on the page.
    assert job.data['result']['moved'] == [INVENTORY]
    assert job.data['progress']['done'] == job.data['progress']['total'] >= 1
    messages = [entry['message'] for entry in job.log_entries]
    assert any(message.startswith('[1/') for message in messages), messages
    assert f'moved: {INVENTORY}' in messages
    status = ui.get(job_status_url(job)).content.decode()
    assert 'hx-trigger' not in status  # polling stops once it is done
    assert 'id="migrate-result"' in status and INVENTORY in status
    assert 'id="migrate-verify-after"' in status
    # Who the copied event rule runs as (its owner) is said on the page.
    owners = status[status.index('id="migrate-owners"'):]
    assert installation['rule'].name in owners[:owners.index('</td>')]
    page = ui.get(job_url(job)).content.decode()
    assert 'Completed' in page and 'id="migrate-progress"' in page

    # The plan now says it is done for that module; the other one can still move.
    actions = {item['action'] for item in build_plan(only=[INVENTORY]).to_dict()['items']}
    assert actions <= {'already_done', 'cannot_move'}, actions

    # Move the rest through the API, then verify and clean up.
    api = api_for(admin)
    response = api.post(API, {}, format='json')
    assert response.status_code == 202, response.content
    second = wait_for_job(Job.objects.get(pk=response.json()['id']))
    assert second.status == JobStatusChoices.STATUS_COMPLETED, (second.error, second.log_entries)
    assert REPORTS in second.data['result']['moved'] and INVENTORY in second.data['result']['unchanged']

    verify_page = ui.get(VERIFY_PAGE).content.decode()
    assert 'id="migrate-verify-ok"' in verify_page and 'id="migrate-cleanup"' in verify_page
    assert api.get(API_VERIFY).json() == {'ok': True, 'problems': []}
    response = ui.post(CLEANUP_PAGE, follow=True)
    assert 'Cleanup done' in response.content.decode()

    # A third apply changes nothing.
    before = world_state()
    third = wait_for_job(Job.objects.get(pk=api.post(API, {}, format='json').json()['id']))
    assert third.data['result']['moved'] == []
    after = world_state()
    assert {k: v for k, v in after.items() if k != 'jobs'} == {k: v for k, v in before.items() if k != 'jobs'}


@pytest.mark.django_db(transaction=True)
def test_a_user_who_lost_the_right_before_the_worker_ran_moves_nothing(rq_worker, installation, migrator):
    """The job carries the user's identity only: the right is read again on the worker."""
    # The RQ job is enqueued when the request's transaction commits: the right is withdrawn before that.
    with transaction.atomic():
        response = api_for(migrator).post(API, {}, format='json')
        assert response.status_code == 202, response.content
        ObjectPermission.objects.filter(users=migrator).delete()
    job = wait_for_job(Job.objects.get(pk=response.json()['id']))
    assert job.status == JobStatusChoices.STATUS_FAILED
    assert 'may not' in job.error
    assert not ScriptModule.objects.filter(name__in=(INVENTORY, REPORTS)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_module_that_cannot_move_fails_the_job_and_stays_on_the_builtin(rq_worker, installation, admin):
    # A plugin module already has the name, with other code: moving the built-in one would replace it.
    save_source(REPORTS, 'from netbox_custom_scripts.scripts import Script\n\n\nclass Other(Script):\n    pass\n',
                source=ModuleSourceChoices.UPLOAD, file_path=upload_path(REPORTS), user=admin, reject_invalid=True)
    ui = client_for(admin)
    plan = ui.get(PAGE).content.decode()
    assert 'table-danger' in plan
    ui.post(PAGE, {})
    job = wait_for_job(migration_jobs().get())
    assert job.status == JobStatusChoices.STATUS_FAILED
    assert REPORTS in job.error and INVENTORY not in job.error
    assert job.data['result']['moved'] == [INVENTORY] and REPORTS in job.data['result']['failed']
    status = ui.get(job_status_url(job)).content.decode()
    failed = status[status.index('id="migrate-failed"'):]
    assert f'<strong>{REPORTS}</strong>' in failed[:failed.index('</td>')]
    assert 'id="migrate-job-error"' in status
    # The conflicting plugin module is as it was, the built-in module still there, and verify says what is missing.
    assert set(ScriptModule.objects.get(name=REPORTS).scripts.values_list('class_name', flat=True)) == {'Other'}
    assert BuiltinModule.objects.filter(file_path=f'{REPORTS}.py').exists()
    report = api_for(admin).get(API_VERIFY).json()
    assert report['ok'] is False and any(REPORTS in problem for problem in report['problems'])
    assert api_for(admin).post(API_CLEANUP, format='json').status_code == 409


@pytest.mark.django_db(transaction=True)
def test_applies_at_the_same_moment_queue_one_job(installation, admin):
    """Clicks (or API clients) racing: the lock spans the check and the commit, so all but one are refused."""
    clicks = 8
    barrier = threading.Barrier(clicks)
    outcomes = []

    def click():
        try:
            barrier.wait(timeout=10)
            outcomes.append(('queued', enqueue_apply(admin).pk))
        except MigrationBusy as exc:
            outcomes.append(('refused', str(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for __ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(kind for kind, __ in outcomes) == ['queued'] + ['refused'] * (clicks - 1), outcomes
    assert migration_jobs().count() == 1


SLOW_SOURCE = """\
import time

from extras.scripts import Script

time.sleep(5)  # importing takes a while: the worker is killed meanwhile


class Slow(Script):
    def run(self, data, commit):
        self.log_info("slow")
"""


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_halfway_leaves_the_module_untouched_and_does_not_block(rq_worker, settings, admin):
    """SIGKILL of the worker and its work-horse mid-apply: nothing moved, and the next apply is not refused."""
    slow = add_builtin_module('wmig_slow', SLOW_SOURCE)
    # The `low` queue is served only by the worker this test starts (and kills).
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': {
        **settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'default_queue': 'low'}}
    worker = start_worker('low', log_name='test-rqworker-migrate.log')
    try:
        job = enqueue_apply(admin)
        deadline = time.monotonic() + 60
        while Job.objects.get(pk=job.pk).status != JobStatusChoices.STATUS_RUNNING:
            assert time.monotonic() < deadline, 'the apply job did not start'
            time.sleep(0.1)
        time.sleep(1)  # inside the module's import on the worker
        for pid in [worker.pid, *descendants(worker.pid)]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert Job.objects.get(pk=job.pk).status == JobStatusChoices.STATUS_RUNNING  # nobody ended it

        # Refused while it might still be alive; once it stopped beating, ended as errored and out of the way.
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT + 15
        while active_migration_job() is not None:
            assert time.monotonic() < deadline, 'a dead apply job still blocks the next one'
            time.sleep(0.5)
        job.refresh_from_db()
        assert job.status == JobStatusChoices.STATUS_ERRORED and 'stopped' in job.error
        assert not ScriptModule.objects.filter(name='wmig_slow').exists()
        assert BuiltinModule.objects.filter(pk=slow.pk).exists()
        page = client_for(admin).get(job_url(job)).content.decode()
        assert 'id="migrate-job-error"' in page and 'hx-trigger' not in page
    finally:
        for pid in [worker.pid, *descendants(worker.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if storages['scripts'].exists('wmig_slow.py'):
            storages['scripts'].delete('wmig_slow.py')
        connections.close_all()
