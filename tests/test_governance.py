"""
Governance: approvals (a committed run waits, as a reviewed dry run, for someone else's approval; self-approval,
reviewers without the approve action, a second approver and a changed module are refused), run policies (commit
permission, run mode, queues, maximum runtime, rate limit), script tests as health checks, and the audit trail,
through the execution core, the REST API, the web views and the CLI, with a real RQ worker.
"""
import threading

import pytest
from core.models import ObjectChange
from dcim.models import Site
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.test import Client
from extras.models import Notification
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import HealthChoices, ModuleSourceChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import (
    InputError,
    RateLimited,
    RunRefused,
    cancel_run,
    rerun,
    save_source,
    submit_run,
    sync_directory,
)
from netbox_custom_scripts.execution.approvals import (
    APPROVAL_REQUESTED,
    RUN_APPROVED,
    RUN_REJECTED,
    approve_run,
    reject_run,
)
from netbox_custom_scripts.models import Schedule, Script, ScriptModule, ScriptRun

from . import utils
from .utils import REPO, cli, make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)
# Tests that need no worker run in a transaction that is rolled back (no queued job is ever committed): faster.
NO_WORKER = pytest.mark.django_db

FIXTURES = f'{REPO}/tests/fixtures/governance'
SETTLED = RunStatusChoices.SETTLED


@pytest.fixture
def scripts(settings):
    # The scripts directory is the governance fixtures, so that views and the CLI (which sync it) keep them.
    config = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=FIXTURES)
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': config}
    result = sync_directory(force=True)
    assert not result.errors, result.errors
    return {script.class_name: script for script in Script.objects.filter(module__name='governance')}


@pytest.fixture
def people(scripts):
    """A requester (run only), two reviewers (run + approve), a committer (run + commit) and an admin."""
    return {
        'requester': make_user('requester', (Script, ('view', 'run')), (ScriptRun, ('view', 'cancel'))),
        'reviewer': make_user('reviewer', (Script, ('view', 'run', 'approve')), (ScriptRun, ('view',))),
        'reviewer2': make_user('reviewer2', (Script, ('view', 'approve')), (ScriptRun, ('view',))),
        'committer': make_user('committer', (Script, ('view', 'run', 'commit')), (ScriptRun, ('view',))),
        'admin': make_user('admin', is_superuser=True),
    }


def submit(script, user, commit=True, source=RunSourceChoices.API, **data):
    return utils.submit(script, user, data, commit=commit, source=source)


def settled(wait, run, timeout=60):
    return wait(lambda: ScriptRun.objects.filter(pk=run.pk, status__in=SETTLED).select_related('job').first(),
                timeout=timeout, message=f'run {run.pk} to settle')


def request_approval(wait, scripts, people, name='ams1'):
    run = submit(scripts['NeedsApproval'], people['requester'], site_name=name)
    assert run.approval_requested and not run.commit
    return settled(wait, run)


# Approval

def test_committed_run_waits_with_its_diff_then_approval_commits_it(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    assert run.status == RunStatusChoices.AWAITING_APPROVAL, (run.error, run.traceback)
    wait(lambda: ScriptRun.objects.get(pk=run.pk).job.status == 'completed', message='its job to complete')
    assert not Site.objects.exists()  # nothing committed yet
    change = run.changes.get()
    assert change.action == 'create' and change.postchange_data['name'] == 'ams1'
    assert Notification.objects.filter(user=people['reviewer'], object_id=run.pk, event_type=APPROVAL_REQUESTED)
    assert Notification.objects.filter(user=people['reviewer2'], object_id=run.pk).exists()
    # (The requester is told their job finished, as for any run; they are not asked to review it.)
    assert not Notification.objects.filter(user=people['requester'], event_type=APPROVAL_REQUESTED).exists()
    assert not Notification.objects.filter(user=people['committer']).exists()  # may not approve

    with pytest.raises(PermissionDenied, match='someone else'):
        approve_run(run, people['requester'])
    with pytest.raises(PermissionDenied, match='may not approve'):
        approve_run(run, people['committer'])

    committed = approve_run(run, people['reviewer'], 'looks right')
    assert committed.commit and committed.approval_of_id == run.pk and committed.user == people['requester']
    committed = settled(wait, committed)
    assert committed.status == RunStatusChoices.COMPLETED, (committed.error, committed.traceback)
    assert Site.objects.get().name == 'ams1'
    run.refresh_from_db()
    assert run.status == RunStatusChoices.APPROVED and run.reviewed_by == people['reviewer']
    assert run.review_comment == 'looks right'
    assert Notification.objects.get(user=people['requester'], object_id=run.pk).event_type == RUN_APPROVED

    with pytest.raises(RunRefused, match='already approved by reviewer'):
        approve_run(run, people['reviewer2'])
    with pytest.raises(RunRefused, match='already approved'):
        reject_run(run, people['reviewer2'], 'too late')


def test_reject_needs_a_comment_and_notifies_the_requester(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    with pytest.raises(InputError, match='comment is required'):
        reject_run(run, people['reviewer'], '  ')
    # Over the API, a rejection without a comment is invalid input (400), not a conflict.
    client = APIClient()
    response = client.post(f'/api/plugins/custom-scripts/runs/{run.pk}/reject/', {'comment': ' '}, format='json',
                           HTTP_AUTHORIZATION=token_header(people['reviewer']))
    assert response.status_code == 400 and 'comment is required' in response.json()['comment'][0]
    reject_run(run, people['reviewer'], 'wrong site name')
    run.refresh_from_db()
    assert run.status == RunStatusChoices.REJECTED and run.review_comment == 'wrong site name'
    assert Notification.objects.get(user=people['requester'], object_id=run.pk).event_type == RUN_REJECTED
    assert not ScriptRun.objects.filter(approval_of=run).exists()
    assert not Site.objects.exists()


def test_two_approvers_at_once_start_exactly_one_committed_run(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    barrier = threading.Barrier(2)
    outcomes = []

    def review(user):
        try:
            barrier.wait()
            outcomes.append(('approved', approve_run(ScriptRun.objects.get(pk=run.pk), user).pk))
        except RunRefused as exc:
            outcomes.append(('refused', str(exc)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=review, args=(people[name],)) for name in ('reviewer', 'reviewer2')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(kind for kind, _ in outcomes) == ['approved', 'refused'], outcomes
    # The refusal names the reviewer who won, not "None" (the locked row's join came from before their review).
    winner = ScriptRun.objects.get(pk=run.pk).reviewed_by
    refusal = next(message for kind, message in outcomes if kind == 'refused')
    assert f'by {winner.username}' in refusal, refusal
    assert ScriptRun.objects.filter(approval_of=run).count() == 1
    settled(wait, ScriptRun.objects.get(approval_of=run))
    assert Site.objects.count() == 1


def test_approving_after_the_module_changed_is_refused(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    module = ScriptModule.objects.get(name='governance')
    source = module.current_revision.source_code + '\n# changed after the dry run\n'
    save_source('governance', source, source=module.source, file_path=module.file_path, module=module)
    with pytest.raises(RunRefused, match='changed since this dry run'):
        approve_run(run, people['reviewer'])
    run.refresh_from_db()
    assert run.status == RunStatusChoices.AWAITING_APPROVAL
    assert not ScriptRun.objects.filter(approval_of=run).exists()


def test_a_failed_dry_run_is_not_submitted_for_approval(rq_worker, wait, scripts, people):
    Site.objects.create(name='taken', slug='taken')
    run = settled(wait, submit(scripts['NeedsApproval'], people['requester'], site_name='taken'))
    assert run.status == RunStatusChoices.ERRORED
    assert 'not submitted for approval' in ' '.join(line.message for line in run.log_entries)


@NO_WORKER
def test_requests_that_cannot_wait_for_approval_are_refused(scripts, people):
    with pytest.raises(InputError) as caught:
        submit(scripts['ApprovalWithSecret'], people['requester'], site_name='x', token='s3cret')
    assert 'never stored' in str(caught.value.message_dict['token'])
    with pytest.raises(InputError) as caught:
        submit_run(scripts['NeedsApproval'], user=people['requester'], data={'site_name': 'x'}, commit=True,
                   source=RunSourceChoices.API, interval=60)
    assert 'need approval' in str(caught.value.message_dict['interval'])
    # A dry run needs no approval, secret or not.
    assert not submit(scripts['ApprovalWithSecret'], people['requester'], commit=False, site_name='x',
                      token='s3cret').approval_requested
    assert ScriptRun.objects.count() == 1


def test_requester_can_withdraw_and_rerun_asks_again(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    again = rerun(run, user=people['requester'], source=RunSourceChoices.API)
    assert again.approval_requested and not again.commit and again.rerun_of == run
    cancel_run(run, people['requester'])
    run.refresh_from_db()
    assert run.status == RunStatusChoices.CANCELLED and 'Withdrawn' in run.error
    with pytest.raises(RunRefused, match='not awaiting approval'):
        approve_run(run, people['reviewer'])


# Policies

@NO_WORKER
def test_commit_permission_separates_committers_from_dry_runners(scripts, people):
    gated = scripts['CommitGated']
    direct = submit(gated, people['committer'], site_name='a')
    assert direct.commit and not direct.approval_requested
    dry = submit(gated, people['requester'], commit=False, site_name='b')
    assert not dry.commit and not dry.approval_requested
    requested = submit(gated, people['requester'], site_name='c')
    assert requested.approval_requested and not requested.commit
    # Without the script's Meta option, `run` commits directly, as in NetBox.
    assert submit(scripts['CreateSite'], people['requester'], site_name='d').commit


@NO_WORKER
def test_commit_permission_from_the_plugin_setting(scripts, people, settings):  # settings: as `scripts` left them
    config = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], commit_requires_permission=True)
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': config}
    assert submit(scripts['CreateSite'], people['requester'], site_name='a').approval_requested
    assert submit(scripts['CreateSite'], people['committer'], site_name='b').commit


@NO_WORKER
def test_run_mode(scripts, people):
    with pytest.raises(RunRefused, match='only when started by hand'):
        submit(scripts['ManualOnly'], people['admin'], source=RunSourceChoices.EVENT, site_name='a')
    assert submit(scripts['ManualOnly'], people['admin'], source=RunSourceChoices.CLI, site_name='b')
    for source in (RunSourceChoices.UI, RunSourceChoices.API, RunSourceChoices.CLI, RunSourceChoices.SCHEDULE):
        with pytest.raises(RunRefused, match='only from event rules'):
            submit(scripts['EventOnly'], people['admin'], source=source, site_name='c')
    assert submit(scripts['EventOnly'], people['admin'], source=RunSourceChoices.EVENT, site_name='d')
    assert ScriptRun.objects.count() == 2


@NO_WORKER
def test_allowed_queues_and_maximum_runtime(scripts, people):
    run = submit_run(scripts['OtherQueues'], user=people['admin'], data={'site_name': 'a'},
                     source=RunSourceChoices.API, queue='high')
    assert run.queue == 'high' and run.job.queue_name == 'high'
    assert submit(scripts['OtherQueues'], people['admin'], site_name='b').queue == 'default'
    with pytest.raises(InputError) as caught:
        submit_run(scripts['OtherQueues'], user=people['admin'], data={'site_name': 'c'},
                   source=RunSourceChoices.API, queue='low')
    assert 'not allowed' in str(caught.value.message_dict['queue'])
    with pytest.raises(InputError):
        submit_run(scripts['CreateSite'], user=people['admin'], data={'site_name': 'd'},
                   source=RunSourceChoices.API, queue='high')
    assert submit(scripts['Capped'], people['admin'], site_name='e').job_timeout == 30
    assert ScriptRun.objects.count() == 3


@NO_WORKER
def test_rate_limit_per_user(scripts, people):
    limited = scripts['Limited']
    for name in ('a', 'b'):
        submit(limited, people['requester'], site_name=name)
    with pytest.raises(RateLimited, match='at most 2/hour') as caught:
        submit(limited, people['requester'], site_name='c')
    assert 3500 < caught.value.retry_after <= 3601
    submit(limited, people['admin'], site_name='d')  # another user has their own budget
    assert ScriptRun.objects.filter(user=people['requester']).count() == 2


@NO_WORKER
@pytest.mark.parametrize('meta, message', [
    ("run_mode = 'sometimes'", 'Meta.run_mode must be one of'),
    ("allowed_queues = ('nowhere',)", "Meta.allowed_queues names 'nowhere'"),
    ("allowed_queues = 'high'", 'must be a list of RQ queue names'),
    ('max_runtime = -5', 'Meta.max_runtime must be a positive'),
    ('job_timeout = 120\n        max_runtime = 60', 'exceeds Meta.max_runtime'),
    ("rate_limit = 'lots'", "Meta.rate_limit must look like '10/hour'"),
    ("approval_required = 'yes'", 'Meta.approval_required must be True or False'),
    ('commit_requires_permission = 1', 'Meta.commit_requires_permission must be True, False or None'),
])
def test_invalid_policies_are_rejected_when_the_module_loads(people, meta, message):
    source = (
        'from netbox_custom_scripts.scripts import Script\n\n'
        'class Bad(Script):\n    class Meta:\n        ' + meta + '\n\n    def run(self, data, commit):\n        pass\n'
    )
    module = save_source('badpolicy', source, source=ModuleSourceChoices.UPLOAD, file_path='badpolicy.py')
    assert module.status == 'error' and message in module.error, module.error


# Script tests (health checks)

def test_health_checks_run_the_tests_and_roll_back(rq_worker, wait, scripts, people):
    healthy = settled(wait, submit_run(scripts['Healthy'], user=people['requester'], source=RunSourceChoices.API,
                                       health_check=True))
    assert healthy.status == RunStatusChoices.COMPLETED and healthy.health_check and not healthy.commit
    assert healthy.output_format == 'json' and '"failed": []' in healthy.output
    unhealthy = settled(wait, submit_run(scripts['Unhealthy'], user=people['requester'],
                                         source=RunSourceChoices.API, health_check=True))
    assert unhealthy.status == RunStatusChoices.FAILED
    messages = [line.message for line in unhealthy.log_entries]
    assert 'test_a_asserts raised AssertionError: expected site is missing' in messages
    assert any(m.startswith('1 of 3 tests passed') and 'test_a_asserts, test_b_logs_failure' in m for m in messages)
    assert not Site.objects.exists()  # both scripts' tests wrote sites; all rolled back
    assert Script.objects.get(class_name='Healthy').health == HealthChoices.PASSING
    assert Script.objects.get(class_name='Unhealthy').health == HealthChoices.FAILING
    with pytest.raises(RunRefused, match='has no tests'):
        submit_run(scripts['NeedsApproval'], user=people['requester'], source=RunSourceChoices.API,
                   health_check=True)
    again = rerun(unhealthy, user=people['requester'], source=RunSourceChoices.API)
    assert again.health_check and again.rerun_of == unhealthy and not again.commit
    with pytest.raises(RunRefused, match='nothing to apply'):
        rerun(healthy, user=people['requester'], source=RunSourceChoices.API, commit=True)


def test_companion_module_tests(rq_worker, wait, scripts, people):
    # governance_tests.py holds CreateSiteTests: its test_* methods are CreateSite's tests.
    run = settled(wait, submit_run(scripts['CreateSite'], user=people['requester'], source=RunSourceChoices.API,
                                   health_check=True))
    assert run.status == RunStatusChoices.COMPLETED, [line.message for line in run.log_entries]
    assert 'governance_tests.CreateSiteTests.test_creates_the_site' in run.output
    assert Script.objects.get(class_name='CreateSite').health == HealthChoices.PASSING
    Site.objects.create(name='stale', slug='stale')
    run = settled(wait, submit_run(scripts['CreateSite'], user=people['requester'], source=RunSourceChoices.API,
                                   health_check=True))
    assert run.status == RunStatusChoices.FAILED
    assert 'test_sees_no_stale_site raised AssertionError: a stale site exists' in ' '.join(
        [line.message for line in run.log_entries])
    assert Script.objects.get(class_name='CreateSite').health == HealthChoices.FAILING
    assert list(Site.objects.values_list('slug', flat=True)) == ['stale']
    # A new revision of the module makes the old result stale.
    module = ScriptModule.objects.get(name='governance')
    save_source('governance', module.current_revision.source_code + '\n# new revision\n', source=module.source,
                file_path=module.file_path, module=module)
    assert Script.objects.get(class_name='CreateSite').health == HealthChoices.UNKNOWN


@NO_WORKER
def test_health_checks_on_a_schedule(scripts, people):
    run = submit_run(scripts['Healthy'], user=people['requester'], source=RunSourceChoices.API, health_check=True,
                     interval=60)
    schedule = Schedule.objects.get()
    assert schedule.health_check and not schedule.commit and run.health_check and run.schedule == schedule


# API, views and CLI

def test_api_review_actions(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    client = APIClient()
    url = f'/api/plugins/custom-scripts/runs/{run.pk}/'
    own = client.post(url + 'approve/', {}, format='json', HTTP_AUTHORIZATION=token_header(people['requester']))
    assert own.status_code == 403 and 'someone else' in own.json()['detail']
    other = client.post(url + 'approve/', {}, format='json', HTTP_AUTHORIZATION=token_header(people['committer']))
    assert other.status_code == 403 and 'may not approve' in other.json()['detail']
    reviewer = token_header(people['reviewer'])
    body = client.get(url, HTTP_AUTHORIZATION=reviewer).json()
    assert body['status']['value'] == 'awaiting_approval' and body['approval_requested'] is True
    response = client.post(url + 'approve/', {'comment': 'ok'}, format='json', HTTP_AUTHORIZATION=reviewer)
    assert response.status_code == 201, response.content
    assert response.json()['approval_of'] == run.pk and response.json()['commit'] is True
    again = client.post(url + 'reject/', {'comment': 'no'}, format='json', HTTP_AUTHORIZATION=reviewer)
    assert again.status_code == 409
    body = client.get(url, HTTP_AUTHORIZATION=reviewer).json()
    assert body['status']['value'] == 'approved' and body['reviewed_by']['username'] == 'reviewer'
    assert body['approved_run'] == response.json()['id']
    # The decision is in NetBox's change log, attributed to the reviewer.
    change = ObjectChange.objects.filter(changed_object_id=run.pk, user=people['reviewer']).get()
    assert change.postchange_data['status'] == 'approved'


@NO_WORKER
def test_api_policy_errors(scripts, people):
    client = APIClient()
    token = token_header(people['requester'])
    url = f'/api/plugins/custom-scripts/scripts/{scripts["Limited"].pk}/run/'
    runs = [client.post(url, {'data': {'site_name': name}, 'commit': False}, format='json', HTTP_AUTHORIZATION=token)
            for name in ('a', 'b')]
    assert [response.status_code for response in runs] == [201, 201]
    limited = client.post(url, {'data': {'site_name': 'c'}}, format='json', HTTP_AUTHORIZATION=token)
    assert limited.status_code == 429 and int(limited['Retry-After']) > 0
    assert 'Expected available' not in limited.json()['detail']  # said once, by the plugin
    # Re-running and applying count as runs too, and answer the same way (429 with Retry-After, not 409).
    first = runs[0].json()['id']
    for action in ('rerun', 'apply'):
        again = client.post(f'/api/plugins/custom-scripts/runs/{first}/{action}/', {}, format='json',
                            HTTP_AUTHORIZATION=token)
        assert again.status_code == 429 and int(again['Retry-After']) > 0, (action, again.content)
    url = f'/api/plugins/custom-scripts/scripts/{scripts["OtherQueues"].pk}/run/'
    refused = client.post(url, {'data': {'site_name': 'd'}, 'queue': 'low'}, format='json', HTTP_AUTHORIZATION=token)
    assert refused.status_code == 400 and 'queue' in refused.json()
    tested = client.post(f'/api/plugins/custom-scripts/scripts/{scripts["Healthy"].pk}/test/',
                         HTTP_AUTHORIZATION=token)
    assert tested.status_code == 201 and tested.json()['health_check'] is True
    no_tests = client.post(f'/api/plugins/custom-scripts/scripts/{scripts["NeedsApproval"].pk}/test/',
                           HTTP_AUTHORIZATION=token)
    assert no_tests.status_code == 409
    assert client.get(f'/api/plugins/custom-scripts/scripts/{scripts["Healthy"].pk}/',
                      HTTP_AUTHORIZATION=token).json()['meta']['rate_limit'] is None


def test_review_in_the_web_ui(rq_worker, wait, scripts, people):
    run = request_approval(wait, scripts, people)
    requester, reviewer = Client(), Client()
    requester.force_login(people['requester'])
    reviewer.force_login(people['reviewer'])
    page = requester.get(run.get_absolute_url()).content.decode()
    assert 'Awaiting approval' in page and 'id="review-run"' not in page and 'Withdraw' in page
    page = reviewer.get(run.get_absolute_url()).content.decode()
    assert 'id="review-run"' in page and 'id="approve-run"' in page
    review_url = f'/plugins/custom-scripts/runs/{run.pk}/review/'
    requester.post(review_url, {'decision': 'approve'})
    assert ScriptRun.objects.get(pk=run.pk).status == RunStatusChoices.AWAITING_APPROVAL
    reviewer.post(review_url, {'decision': 'reject'})  # no comment
    assert ScriptRun.objects.get(pk=run.pk).status == RunStatusChoices.AWAITING_APPROVAL
    response = reviewer.post(review_url, {'decision': 'approve', 'comment': 'go'})
    committed = ScriptRun.objects.get(approval_of=run)
    assert response.status_code == 302 and response['Location'] == committed.get_absolute_url()
    settled(wait, committed)
    page = requester.get(run.get_absolute_url()).content.decode()
    assert 'id="approved-run"' in page and 'reviewer' in page
    assert Site.objects.filter(name='ams1').exists()


@NO_WORKER
def test_script_page_shows_policy_and_health(scripts, people):
    client = Client()
    client.force_login(people['requester'])
    page = client.get(scripts['Healthy'].get_absolute_url()).content.decode()
    assert 'id="run-policy"' in page and 'id="run-tests"' in page and 'Not tested' in page
    page = client.get(scripts['Limited'].get_absolute_url()).content.decode()
    assert '2/hour' in page and 'id="run-tests"' not in page
    assert 'id="run-tests"' in client.get(scripts['CreateSite'].get_absolute_url()).content.decode()  # companion
    listing = client.get('/plugins/custom-scripts/scripts/').content.decode()
    assert 'script-health' in listing and 'No tests' in listing
    response = client.post(f'/plugins/custom-scripts/scripts/{scripts["Healthy"].pk}/test/')
    run = ScriptRun.objects.get(health_check=True)
    assert response['Location'] == run.get_absolute_url()


def test_cli_rerun_apply_approve_reject_and_test(rq_worker, wait, scripts, people):
    code, out, err = cli('run', 'governance.NeedsApproval', '--user', 'requester', '--data', '{"site_name": "x1"}',
                         '--commit')
    request = ScriptRun.objects.get(approval_requested=True)
    assert code == 6 and 'nothing is committed until someone else approves it' in err
    code, out, err = cli('approve', str(request.pk), '--user', 'reviewer', '--wait')
    assert code == 0 and 'Approved run' in err
    assert Site.objects.filter(name='x1').exists()
    assert ObjectChange.objects.filter(changed_object_id=request.pk, user=people['reviewer']).exists()

    cli('run', 'governance.NeedsApproval', '--user', 'requester', '--data', '{"site_name": "x2"}', '--commit')
    second = ScriptRun.objects.filter(approval_requested=True).latest('pk')
    code, out, err = cli('reject', str(second.pk), '--user', 'reviewer', '--comment', 'no')
    assert code == 0 and ScriptRun.objects.get(pk=second.pk).status == RunStatusChoices.REJECTED

    code, out, err = cli('run', 'governance.CreateSite', '--user', 'admin', '--data', '{"site_name": "x3"}')
    dry = ScriptRun.objects.latest('pk')
    assert code == 0 and not dry.commit and not Site.objects.filter(name='x3').exists()
    code, out, err = cli('apply', str(dry.pk), '--user', 'admin')
    assert code == 0 and Site.objects.filter(name='x3').exists()
    code, out, err = cli('apply', str(ScriptRun.objects.latest('pk').pk), '--user', 'admin')
    assert code == 10 and 'already committed' in err
    code, out, err = cli('rerun', str(dry.pk), '--user', 'admin', '--data', '{"site_name": "x4"}', '--commit')
    assert code == 0 and Site.objects.filter(name='x4').exists()

    assert cli('test', 'governance.Healthy', '--user', 'admin')[0] == 0
    code, out, err = cli('test', 'governance.Unhealthy', '--user', 'admin')
    assert code == 1 and 'Completed with failures' in err


# Audit

@NO_WORKER
def test_runs_modules_and_schedules_are_in_the_change_log(scripts, people):
    from core.models import ObjectType

    client = APIClient()
    admin = token_header(people['admin'])
    run = client.post(f'/api/plugins/custom-scripts/scripts/{scripts["CreateSite"].pk}/run/',
                      {'data': {'site_name': 'audited'}, 'commit': False}, format='json', HTTP_AUTHORIZATION=admin)
    assert run.status_code == 201
    cli_run = submit(scripts['CreateSite'], people['admin'], commit=False, source=RunSourceChoices.CLI,
                     site_name='from the cli')  # no web request: still logged, as the given user
    module = client.post('/api/plugins/custom-scripts/modules/', {
        'name': 'audited', 'source_code': 'from netbox_custom_scripts.scripts import Script\n\n'
                                          'class A(Script):\n    def run(self, data, commit):\n        pass\n',
    }, format='json', HTTP_AUTHORIZATION=admin)
    assert module.status_code == 201, module.content
    schedule = client.post('/api/plugins/custom-scripts/schedules/', {
        'name': 'nightly tests', 'script_id': scripts['Healthy'].pk, 'health_check': True, 'interval': 60,
    }, format='json', HTTP_AUTHORIZATION=admin)
    assert schedule.status_code == 201, schedule.content
    assert client.post(f'/api/plugins/custom-scripts/schedules/{schedule.json()["id"]}/pause/',
                       HTTP_AUTHORIZATION=admin).status_code == 200

    def logged(model, pk):
        return list(ObjectChange.objects.filter(
            changed_object_type=ObjectType.objects.get_for_model(model), changed_object_id=pk, user=people['admin'],
        ).order_by('pk').values_list('action', flat=True))

    assert logged(ScriptRun, run.json()['id']) == ['create']
    assert logged(ScriptRun, cli_run.pk) == ['create']
    assert logged(ScriptModule, module.json()['id'])[0] == 'create'
    assert logged(Schedule, schedule.json()['id']) == ['create', 'update']  # created, then paused
    # The Changelog tabs of the run and module pages show them.
    browser = Client()
    browser.force_login(people['admin'])
    for url in (f'/plugins/custom-scripts/runs/{cli_run.pk}/changelog/',
                f'/plugins/custom-scripts/modules/{module.json()["id"]}/changelog/'):
        page = browser.get(url)
        assert page.status_code == 200 and 'admin' in page.content.decode() and 'Created' in page.content.decode()
