"""
Runs in netbox-branching branches, through a real worker: each door (web form in the active branch, REST API with
X-NetBox-Branch, the CLI's --branch, a schedule, an event rule) puts the script's changes in the branch and none in
main, while the run's own records stay in main; dry runs roll back inside the branch; "stage in a new branch"
provisions one and commits there, for branching's own diff and merge.
"""
import json

import pytest
from core.models import ObjectChange, ObjectType
from dcim.models import Site
from django.db import connection
from django.test import Client
from django.utils import timezone
from extras.models import EventRule
from netbox_branching.models import Branch, ChangeDiff
from netbox_branching.utilities import activate_branch
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import rerun
from netbox_custom_scripts.models import EventRuleOwner, Schedule, Script, ScriptRun

from ..utils import cli, finished, make_user, script_named, token_header, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

API = '/api/plugins/custom-scripts'
CREATE_SITES = 'behaviours.CreateSites'


def api(user, branch=None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    if branch is not None:
        client.credentials(HTTP_AUTHORIZATION=token_header(user), HTTP_X_NETBOX_BRANCH=branch.schema_id)
    return client


def sites(branch=None):
    """Site names in main, or in `branch`."""
    if branch is None:
        return sorted(Site.objects.values_list('name', flat=True))
    with activate_branch(branch):
        return sorted(Site.objects.values_list('name', flat=True))


def run_over_api(user, payload, branch=None):
    response = api(user, branch).post(f'{API}/scripts/{CREATE_SITES}/run/', payload, format='json')
    return response


def test_api_run_with_the_branch_header_lands_in_the_branch(rq_worker, runner, branch):
    response = run_over_api(runner, {'data': {'prefix': 'api', 'count': 2}, 'commit': True}, branch)
    assert response.status_code == 201, response.content
    assert response.json()['branch'] == {'id': branch.pk, 'name': 'staging', 'staged': False}
    run = finished(response.json()['id'])
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    assert sites() == []
    assert sites(branch) == ['api-0', 'api-1']
    # The diff shows the branch's changes, and branching sees them as its own.
    assert sorted(change.object_repr for change in run.changes.all()) == ['api-0', 'api-1']
    assert sorted(ChangeDiff.objects.filter(branch=branch).values_list('object_repr', flat=True)) == ['api-0', 'api-1']
    assert 'Changes committed in branch staging: review and merge them there.' in [e.message for e in run.log_entries]
    # The run is listed in main, filterable by its branch.
    listed = api(runner).get(f'{API}/runs/', {'branch_id': branch.pk}).json()
    assert [item['id'] for item in listed['results']] == [run.pk]
    assert api(runner).get(f'{API}/runs/', {'in_branch': 'false'}).json()['count'] == 0


def test_the_header_branch_is_not_picked_up_again_on_the_worker(rq_worker, runner, branch):
    # The body says main: the worker must run it in main, although the copied request carried the header.
    response = run_over_api(runner, {'data': {'prefix': 'main', 'count': 1}, 'commit': True, 'branch': None}, branch)
    assert response.status_code == 201, response.content
    run = finished(response.json()['id'])
    assert run.status == RunStatusChoices.COMPLETED and run.branch_id is None
    assert sites() == ['main-0'] and sites(branch) == []


def test_dry_run_in_a_branch_rolls_back_inside_the_branch(rq_worker, runner, branch):
    response = run_over_api(runner, {'data': {'prefix': 'dry', 'count': 3}, 'commit': False}, branch)
    run = finished(response.json()['id'])
    assert run.status == RunStatusChoices.COMPLETED and not run.commit
    assert run.branch_id == branch.pk
    assert sites() == [] and sites(branch) == []
    assert run.change_count == 3
    assert not ChangeDiff.objects.filter(branch=branch).exists()


def test_a_script_error_in_a_branch_rolls_back_the_branch_too(rq_worker, runner, branch):
    response = run_over_api(runner, {'data': {'prefix': 'err', 'count': 3, 'fail_after': 2}, 'commit': True}, branch)
    run = finished(response.json()['id'])
    assert run.status == RunStatusChoices.ERRORED
    assert sites() == [] and sites(branch) == []


def test_web_form_run_executes_in_the_sessions_active_branch(rq_worker, runner, branch):
    client = Client()
    client.force_login(runner)
    client.cookies['active_branch'] = branch.schema_id
    script = script_named(CREATE_SITES)
    page = client.get(script.get_absolute_url()).content.decode()
    assert 'id="run-branch"' in page and 'staging' in page.split('id="run-branch"')[1][:400]
    response = client.post(script.get_absolute_url(), {'prefix': 'ui', 'count': '2', '_commit': 'on'})
    assert response.status_code == 302, response.content.decode()[:2000]
    run = finished(ScriptRun.objects.get())
    assert run.status == RunStatusChoices.COMPLETED and run.source == RunSourceChoices.UI
    assert run.branch_id == branch.pk
    assert sites() == [] and sites(branch) == ['ui-0', 'ui-1']
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'id="open-branch"' in page and branch.get_absolute_url() in page
    assert 'id="merge-branch"' not in page  # runner may not merge


def test_cli_branch_option_runs_in_that_branch(runner, branch):
    status, out, err = cli('run', CREATE_SITES, '--user', 'runner', '--data', json.dumps({'prefix': 'cli', 'count': 2}),
                           '--commit', '--branch', 'staging')
    assert status == 0, (out, err)
    run = ScriptRun.objects.get()
    assert run.source == RunSourceChoices.CLI and run.branch_id == branch.pk
    assert sites() == [] and sites(branch) == ['cli-0', 'cli-1']

    status, out, err = cli('run', CREATE_SITES, '--user', 'runner', '--branch', 'no-such-branch')
    assert status != 0 and 'No branch named' in out + err
    assert ScriptRun.objects.count() == 1


def test_nbshell_run_script_takes_a_branch(runner, branch):
    from netbox_custom_scripts.execution import run_script

    run = run_script(CREATE_SITES, {'prefix': 'shell', 'count': 1}, user='runner', commit=True, branch='staging')
    assert run.status == RunStatusChoices.COMPLETED and run.source == RunSourceChoices.NBSHELL
    assert sites() == [] and sites(branch) == ['shell-0']
    # With a branch active in the shell, a run follows it unless told otherwise.
    with activate_branch(branch):
        run = run_script(CREATE_SITES, {'prefix': 'active', 'count': 1}, user='runner', commit=True)
        main_run = run_script(CREATE_SITES, {'prefix': 'told', 'count': 1}, user='runner', commit=True, branch=None)
    assert run.branch_id == branch.pk and main_run.branch_id is None
    assert sites() == ['told-0'] and sites(branch) == ['active-0', 'shell-0']


def test_a_schedule_runs_in_its_branch(rq_worker, runner, branch):
    response = api(runner).post(f'{API}/schedules/', {
        'script_id': script_named(CREATE_SITES).pk, 'inputs': {'prefix': 'sched', 'count': 1}, 'commit': True,
        'name': 'hourly in staging', 'interval': 60, 'branch': 'staging',
    }, format='json')
    assert response.status_code == 201, response.content
    assert response.json()['branch'] == 'staging'
    schedule = Schedule.objects.get()
    assert schedule.branch_id == branch.pk
    run = finished(schedule.runs.order_by('pk').first())
    assert run.status == RunStatusChoices.COMPLETED and run.branch_id == branch.pk
    assert sites() == [] and sites(branch) == ['sched-0']

    response = api(runner).patch(f'{API}/schedules/{schedule.pk}/', {'branch': 'nope'}, format='json')
    assert response.status_code == 400 and 'branch' in response.json()


def test_an_event_rule_runs_in_the_branch_of_the_triggering_change(rq_worker, runner, make_branch):
    script = Script.objects.get(class_name='OnSiteChange')
    rule = EventRule(
        name='on site update', event_types=['object_updated'], action_type='netbox_custom_scripts.run_script',
        action_object=script, action_data={'object_variable': 'site', 'note': 'x', 'commit': True},
    )
    rule.full_clean()
    rule.save()
    rule.object_types.add(ObjectType.objects.get_for_model(Site))
    EventRuleOwner.objects.update_or_create(event_rule=rule, defaults={'user': runner})
    site = Site.objects.create(name='Site A', slug='site-a', description='before')
    branch = make_branch()  # a copy of main, with the site
    response = api(runner, branch).patch(f'/api/dcim/sites/{site.pk}/', {'description': 'after'}, format='json')
    assert response.status_code == 200, response.content
    run = wait_for(lambda: ScriptRun.objects.filter(status__in=RunStatusChoices.TERMINAL).order_by('pk').first(),
                   message='the event-rule run')
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    assert run.source == RunSourceChoices.EVENT and run.branch_id == branch.pk
    site.refresh_from_db()
    assert site.description == 'before' and site.comments == ''  # main untouched
    with activate_branch(branch):
        in_branch = Site.objects.get(pk=site.pk)
    assert in_branch.description == 'after' and in_branch.comments == 'touched 1'


def test_stage_in_a_new_branch_then_merge_with_branchings_api(rq_worker, admin):
    response = run_over_api(admin, {'data': {'prefix': 'staged', 'count': 2}, 'branch': {'new': 'review-1'}})
    assert response.status_code == 201, response.content
    run = finished(response.json()['id'], timeout=120)
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    assert run.commit and run.branch_staged and run.branch_name == 'review-1'
    branch = Branch.objects.get(name='review-1')
    assert branch.ready and run.branch_id == branch.pk and branch.owner == admin
    assert sites() == [] and sites(branch) == ['staged-0', 'staged-1']
    diff = sorted(ChangeDiff.objects.filter(branch=branch).values_list('action', 'object_repr'))
    assert diff == sorted((change.action, change.object_repr) for change in run.changes.all())

    page = Client()
    page.force_login(admin)
    html = page.get(run.get_absolute_url()).content.decode()
    assert 'id="merge-branch"' in html and 'staged in a new branch' in html

    response = api(admin).post(f'/api/plugins/branching/branches/{branch.pk}/merge/', {'commit': True}, format='json')
    assert response.status_code == 200, response.content
    wait_for(lambda: Branch.objects.get(pk=branch.pk).merged, timeout=120, message='the merge')
    assert sites() == ['staged-0', 'staged-1']  # exactly what the diff showed
    # Our records are in main, readable after the merge and after the branch is gone.
    branch = Branch.objects.get(pk=branch.pk)
    branch.delete()
    run = ScriptRun.objects.get(pk=run.pk)
    assert run.branch_name == 'review-1' and run.change_count == 2
    assert [e.message for e in run.log_entries][0] == 'Provisioning branch review-1'
    html = page.get(run.get_absolute_url()).content.decode()
    assert 'review-1 (deleted)' in html


def test_records_stay_in_main_and_survive_deleting_the_branch(rq_worker, runner, branch):
    run = finished(run_over_api(runner, {'data': {'prefix': 'gone', 'count': 1}, 'commit': True}, branch).json()['id'])
    assert run.status == RunStatusChoices.COMPLETED
    # Nothing of ours was copied into the branch's schema.
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s',
            [branch.schema_name, 'netbox_custom_scripts%'],
        )
        assert cursor.fetchall() == []
    for model in (Script, ScriptRun, Schedule):
        assert 'branching' not in ObjectType.objects.get_for_model(model).features
    # The run's own change-log entry is in main's change log.
    assert ObjectChange.objects.filter(changed_object_id=run.pk, changed_object_type__model='scriptrun').exists()
    branch.delete()
    run.refresh_from_db()
    assert run.branch_name == 'staging' and run.log_entries.count() > 0
    response = api(runner).get(f'{API}/runs/{run.pk}/')
    assert response.status_code == 200 and response.json()['branch']['name'] == 'staging'


def test_a_user_who_may_not_see_the_branch_cannot_run_into_it(rq_worker, branch):
    outsider = make_user('outsider', (Script, ['view', 'run', 'commit']), (Site, ['view', 'add']))
    response = run_over_api(outsider, {'data': {'prefix': 'x', 'count': 1}, 'commit': True}, branch)
    assert response.status_code == 403, response.content
    assert 'may not access the branch staging' in response.json()['detail']
    response = run_over_api(outsider, {'data': {'prefix': 'x', 'count': 1}, 'commit': True, 'branch': 'staging'})
    assert response.status_code == 403
    status, out, err = cli('run', CREATE_SITES, '--user', 'outsider', '--commit', '--branch', 'staging')
    assert status != 0
    assert not ScriptRun.objects.exists() and sites(branch) == []


def test_staging_needs_the_right_to_create_branches(runner):
    response = run_over_api(runner, {'data': {'prefix': 'x', 'count': 1}, 'branch': {'new': 'mine'}})
    assert response.status_code in (400, 403), response.content
    assert 'may not create branches' in json.dumps(response.json())
    assert not Branch.objects.exists() and not ScriptRun.objects.exists()


@pytest.mark.parametrize('payload', [
    {'branch': {'new': ''}}, {'branch': {'new': 'a', 'extra': 1}}, {'branch': ['staging']}, {'branch': True},
    {'branch': {'new': 'x' * 101}},
])
def test_bad_branch_values_are_refused_and_change_nothing(admin, payload):
    response = run_over_api(admin, {'data': {'prefix': 'x', 'count': 1}, **payload})
    assert response.status_code == 400, response.content
    assert not Branch.objects.exists() and not ScriptRun.objects.exists()


def test_a_branch_that_is_not_ready_is_refused(admin, branch):
    Branch.objects.filter(pk=branch.pk).update(status='merged')
    response = run_over_api(admin, {'data': {'prefix': 'x', 'count': 1}, 'commit': True, 'branch': 'staging'})
    assert response.status_code == 409, response.content
    assert 'not ready (merged)' in response.json()['detail']
    assert not ScriptRun.objects.exists()
    # The header to a branch that is not ready is refused by branching itself, before any view.
    assert run_over_api(admin, {'data': {}}, branch).status_code == 400


def test_a_branch_deleted_while_the_run_waits_ends_it_as_refused(request, admin, branch):
    # No worker is taking jobs yet: the run waits in the queue.
    response = run_over_api(admin, {'data': {'prefix': 'late', 'count': 1}, 'commit': True}, branch)
    run_id = response.json()['id']
    branch.delete()
    request.getfixturevalue('rq_worker')
    run = finished(run_id)
    assert run.status == RunStatusChoices.REFUSED
    assert run.error == 'Branch staging was deleted before the run started.'
    assert sites() == []


def test_with_no_branch_active_runs_are_in_main(rq_worker, runner, branch):
    run = finished(run_over_api(runner, {'data': {'prefix': 'plain', 'count': 1}, 'commit': True}).json()['id'])
    assert run.status == RunStatusChoices.COMPLETED and run.branch_id is None and run.branch_name == ''
    assert sites() == ['plain-0'] and sites(branch) == []


def test_a_rerun_repeats_in_the_same_branch(rq_worker, runner, branch):
    response = run_over_api(runner, {'data': {'prefix': 'again', 'count': 1}, 'commit': False}, branch)
    dry = finished(response.json()['id'])
    applied = finished(rerun(dry, user=runner, source=RunSourceChoices.API, commit=True))
    assert applied.status == RunStatusChoices.COMPLETED and applied.branch_id == branch.pk
    assert sites() == [] and sites(branch) == ['again-0']


def test_a_scheduled_single_run_keeps_its_branch(runner, branch):
    response = run_over_api(runner, {
        'data': {'prefix': 'later', 'count': 1}, 'commit': True,
        'schedule_at': (timezone.now() + timezone.timedelta(hours=1)).isoformat(),
    }, branch)
    assert response.status_code == 201, response.content
    assert ScriptRun.objects.get().branch_id == branch.pk


@pytest.mark.parametrize('value', ['\u00b9', '\u0661', '\u00b2\u00b3'])
def test_non_ascii_digits_are_names_not_ids(admin, branch, value):
    # '¹' passes str.isdigit() but int() refuses it; '١' int() reads as 1: neither may pick a branch by ID.
    response = run_over_api(admin, {'data': {'prefix': 'x', 'count': 1}, 'commit': True, 'branch': value})
    assert response.status_code == 400, response.content
    assert 'No branch named' in json.dumps(response.json(), ensure_ascii=False)
    assert not ScriptRun.objects.exists()


def test_staging_needs_the_view_permission_too(admin):
    adder = make_user('adder', (Script, ['view', 'run', 'commit']), (Site, ['view', 'add']), (Branch, ['add']))
    response = run_over_api(adder, {'data': {'prefix': 'x', 'count': 1}, 'branch': {'new': 'unseen'}})
    assert response.status_code == 403, response.content
    assert not Branch.objects.exists() and not ScriptRun.objects.exists()


def test_a_new_branch_name_taken_meanwhile_is_refused_not_a_server_error(admin):
    from netbox_custom_scripts.execution.branches import new_branch, save_new_branch
    from netbox_custom_scripts.execution.errors import InputError

    checked = new_branch('raced', admin)  # the name is free when it is checked...
    Branch(name='raced').save(provision=False)  # ...and taken before it is saved
    with pytest.raises(InputError) as caught:
        save_new_branch(checked)
    assert 'already exists' in str(caught.value.message_dict['new_branch'])


@pytest.mark.parametrize('value', ['abc', '\u00b9', '1;2'])
def test_a_bad_branch_id_filter_is_a_400(admin, value):
    assert api(admin).get(f'{API}/runs/', {'branch_id': value}).status_code == 400


def _in_thread(function):
    import threading

    outcome = {}

    def target():
        from django.db import connections
        try:
            outcome['value'] = function()
        except Exception as exc:  # what the other user would see
            outcome['error'] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_deleting_the_branch_under_a_running_run_cannot_send_its_writes_to_main(rq_worker, admin, branch):
    slow = api(admin, branch).post(f'{API}/scripts/behaviours.SlowLogger/run/',
                                   {'data': {'seconds': 3, 'site_name': 'racer'}, 'commit': True}, format='json')
    assert slow.status_code == 201, slow.content
    wait_for(lambda: ScriptRun.objects.get(pk=slow.json()['id']).log_entries.count() >= 3, message='the run to start')
    thread, outcome = _in_thread(lambda: Branch.objects.get(pk=branch.pk).delete())
    finished(slow.json()['id'], timeout=90)
    thread.join(timeout=90)
    assert not thread.is_alive()
    assert 'is executing in branch staging' in str(outcome.get('error')), outcome  # the delete was refused
    assert not Site.objects.filter(name='racer').exists()
    assert sites(Branch.objects.get(pk=branch.pk)) == ['racer']


def test_a_merge_is_refused_while_a_run_executes_in_its_branch(rq_worker, admin, branch):
    slow = api(admin, branch).post(f'{API}/scripts/behaviours.SlowLogger/run/',
                                   {'data': {'seconds': 3, 'site_name': 'merged-late'}, 'commit': True}, format='json')
    wait_for(lambda: ScriptRun.objects.get(pk=slow.json()['id']).log_entries.count() >= 3, message='the run to start')
    thread, outcome = _in_thread(lambda: Branch.objects.get(pk=branch.pk).merge(user=admin))
    run = finished(slow.json()['id'], timeout=90)
    thread.join(timeout=90)
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    # A merge while the run executes is refused (it would leave the run's changes behind in a merged branch)...
    assert 'is executing in branch staging: wait until it has ended' in str(outcome.get('error')), outcome
    assert Branch.objects.get(pk=branch.pk).ready and not Site.objects.filter(name='merged-late').exists()
    # ...and once it has ended, the merge carries them into main.
    Branch.objects.get(pk=branch.pk).merge(user=admin)
    assert Site.objects.filter(name='merged-late').exists()


def test_losing_access_to_the_branch_while_queued_refuses_the_run(request, runner, branch):
    from users.models import ObjectPermission

    response = run_over_api(runner, {'data': {'prefix': 'lost', 'count': 1}, 'commit': True}, branch)
    assert response.status_code == 201, response.content
    ObjectPermission.objects.filter(users=runner, object_types=ObjectType.objects.get_for_model(Branch)).delete()
    request.getfixturevalue('rq_worker')
    run = finished(response.json()['id'])
    assert run.status == RunStatusChoices.REFUSED
    assert run.error == 'runner may no longer access the branch staging.'
    assert sites(branch) == []
