"""
Running scripts over the REST API: POST .../scripts/<id or module.Class>/run/ returns the new run; a real RQ worker
executes it; the run's log, changes, output and files are readable; cancel, re-run and apply work; bad input is a
400 with per-field errors, a missing permission a 403, an impossible run a 409 - never a 500.
"""
import datetime

import pytest
from dcim.models import Site
from django.utils import timezone
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import submit_run, sync_directory
from netbox_custom_scripts.models import Schedule, Script, ScriptRun

from .utils import finished, make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)

API = '/api/plugins/custom-scripts'


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


@pytest.fixture
def admin(admin):
    sync_directory()
    return admin


def test_run_by_full_name_through_a_worker(rq_worker, admin):
    client = client_for(admin)
    response = client.post(f'{API}/scripts/behaviours.CreateSites/run/',
                           {'data': {'prefix': 'api', 'count': 2}, 'commit': True}, format='json')
    assert response.status_code == 201, response.content
    body = response.json()
    assert body['status']['value'] == 'pending' and body['commit'] is True
    assert response['Location'] == body['url']
    run = finished(body['id'])
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    assert Site.objects.filter(name__startswith='api-').count() == 2

    detail = client.get(f'{API}/runs/{run.pk}/').json()
    assert detail['status']['value'] == 'completed'
    assert detail['progress'] == {'done': 2.0, 'total': 2.0, 'percent': 100, 'message': ''}
    log = client.get(f'{API}/runs/{run.pk}/log/').json()
    assert [line['message'] for line in log['results']][:2] == ['Created api-0', 'Created api-1']
    first_id = log['results'][0]['id']
    since = client.get(f'{API}/runs/{run.pk}/log/?since={first_id}').json()
    assert since['results'][0]['message'] == 'Created api-1'
    assert client.get(f'{API}/runs/{run.pk}/log/?level=warning').json()['count'] == 0
    changes = client.get(f'{API}/runs/{run.pk}/changes/').json()
    assert [c['action']['value'] for c in changes['results']] == ['create', 'create']
    output = client.get(f'{API}/runs/{run.pk}/output/')
    assert output['Content-Type'] == 'application/json' and b'"created": 2' in output.content


def test_dry_run_then_apply(rq_worker, admin):
    client = client_for(admin)
    response = client.post(f'{API}/scripts/behaviours.CreateSites/run/',
                           {'data': {'prefix': 'plan', 'count': 1}}, format='json')
    assert response.json()['commit'] is False  # the script's commit_default
    dry = finished(response.json()['id'])
    assert dry.status == RunStatusChoices.COMPLETED and not Site.objects.filter(name='plan-0').exists()
    assert dry.changes.get().object_repr == 'plan-0'

    applied = client.post(f'{API}/runs/{dry.pk}/apply/', {}, format='json')
    assert applied.status_code == 201, applied.content
    run = finished(applied.json()['id'])
    assert run.commit and run.rerun_of_id == dry.pk and run.inputs == dry.inputs
    assert Site.objects.filter(name='plan-0').exists()
    assert client.post(f'{API}/runs/{run.pk}/apply/', {}, format='json').status_code == 409


@pytest.mark.parametrize('payload, field', [
    ({'data': {'count': 'many'}}, 'count'),
    ({'data': {'count': 5000}}, 'count'),
    ({'data': {'unknown': 1}}, '__all__'),
])
def test_invalid_inputs_are_400_per_field(admin, payload, field):
    response = client_for(admin).post(f'{API}/scripts/behaviours.CreateSites/run/', payload, format='json')
    assert response.status_code == 400
    assert field in response.json()['data']
    assert not ScriptRun.objects.exists()


@pytest.mark.parametrize('payload, field', [
    ({'data': 'not an object'}, 'data'),
    ({'schedule_at': '2001-01-01T00:00:00Z'}, 'schedule_at'),
    ({'interval': 0}, 'interval'),
    ({'cron': 'every tuesday'}, 'cron'),
    ({'commit': 'perhaps'}, 'commit'),
])
def test_invalid_run_parameters_are_400(admin, payload, field):
    response = client_for(admin).post(f'{API}/scripts/basic.Hello/run/', payload, format='json')
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not ScriptRun.objects.exists() and not Schedule.objects.exists()


def test_permissions(admin):
    url = f'{API}/scripts/basic.Hello/run/'
    assert APIClient().post(url, {}, format='json').status_code == 403
    viewer = make_user('viewer', (Script, ['view']))
    assert client_for(viewer).post(url, {}, format='json').status_code == 403
    hello = Script.objects.get(class_name='Hello')
    runner = make_user('runner', (Script, ['view', 'run'], {'id': hello.pk}))
    assert client_for(runner).post(url, {}, format='json').status_code == 201
    # Allowed to run one script only: the others are not found for this user.
    assert client_for(runner).post(f'{API}/scripts/basic.Count/run/', {'data': {'times': 1}},
                                   format='json').status_code == 404
    assert ScriptRun.objects.count() == 1


def test_read_only_token_cannot_run(admin):
    from users.models import Token

    token = Token(user=admin, description='ro', write_enabled=False)
    token.full_clean()
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token.get_auth_header_prefix() + token.token)
    assert client.post(f'{API}/scripts/basic.Hello/run/', {}, format='json').status_code == 403


def test_scheduled_run_can_be_cancelled(admin):
    client = client_for(admin)
    when = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    response = client.post(f'{API}/scripts/basic.Hello/run/', {'schedule_at': when}, format='json')
    assert response.status_code == 201
    run_id = response.json()['id']
    assert response.json()['status']['value'] == 'scheduled'
    cancelled = client.post(f'{API}/runs/{run_id}/cancel/', {}, format='json')
    assert cancelled.json()['status']['value'] == 'cancelled'
    assert ScriptRun.objects.get(pk=run_id).job is None  # the queued job was deleted with it
    assert client.post(f'{API}/runs/{run_id}/cancel/', {}, format='json').status_code == 409


def test_schedule_from_an_interval(admin):
    client = client_for(admin)
    start = timezone.now() + datetime.timedelta(hours=1)
    response = client.post(f'{API}/scripts/basic.Hello/run/',
                           {'interval': 60, 'schedule_at': start.isoformat(), 'data': {'who': 'cron'}}, format='json')
    assert response.status_code == 201, response.content
    schedule = Schedule.objects.get()
    assert schedule.interval == 60 and schedule.inputs == {'who': 'cron'}
    assert response.json()['scheduled_at'].startswith(start.strftime('%Y-%m-%dT%H:%M'))
    assert response.json()['schedule'] == schedule.pk
    paused = client.post(f'{API}/schedules/{schedule.pk}/pause/', {}, format='json')
    assert paused.json()['enabled'] is False
    assert ScriptRun.objects.get().status == RunStatusChoices.CANCELLED
    resumed = client.post(f'{API}/schedules/{schedule.pk}/resume/', {}, format='json')
    assert resumed.json()['enabled'] is True
    assert ScriptRun.objects.filter(status__in=RunStatusChoices.WAITING).count() == 1


def test_secret_inputs_cannot_be_scheduled(admin):
    response = client_for(admin).post(f'{API}/scripts/behaviours.WithSecret/run/', {
        'data': {'username': 'u', 'password': 'p4ss'},
        'schedule_at': (timezone.now() + datetime.timedelta(hours=1)).isoformat(),
    }, format='json')
    assert response.status_code == 400
    assert 'secret' in response.json()['schedule_at'][0]


def test_singleton_refuses_a_second_run(admin):
    client = client_for(admin)
    first = client.post(f'{API}/scripts/behaviours.Singleton/run/', {'data': {'seconds': 1}}, format='json')
    assert first.status_code == 201
    second = client.post(f'{API}/scripts/behaviours.Singleton/run/', {'data': {'seconds': 1}}, format='json')
    assert second.status_code == 409
    assert 'singleton' in second.json()['detail']


def test_unknown_ids_are_404(admin):
    client = client_for(admin)
    assert client.post(f'{API}/scripts/999999/run/', {}, format='json').status_code == 404
    assert client.post(f'{API}/scripts/nomodule.Nothing/run/', {}, format='json').status_code == 404
    assert client.get(f'{API}/runs/999999/log/').status_code == 404
    assert client.get(f'{API}/runs/999999/').status_code == 404


def test_run_over_real_http(live_server, admin):
    """Through a real WSGI server (headers must be plain strings there): 201 with the run's URL as Location."""
    import json as jsonlib
    import urllib.request

    request = urllib.request.Request(
        f'{live_server.url}{API}/scripts/basic.Hello/run/',
        data=jsonlib.dumps({'data': {'who': 'http'}}).encode(),
        headers={'Authorization': token_header(admin), 'Content-Type': 'application/json'},
        method='POST',
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
        body = jsonlib.loads(response.read())
        assert response.headers['Location'] == body['url']


def test_schedule_crud_over_the_api(admin):
    client = client_for(admin)
    hello = Script.objects.get(class_name='Hello')
    created = client.post(f'{API}/schedules/', {
        'name': 'nightly hello', 'script_id': hello.pk, 'inputs': {'who': 'night'}, 'cron': '0 2 * * *',
    }, format='json')
    assert created.status_code == 201, created.content
    schedule = Schedule.objects.get()
    assert schedule.user == admin and schedule.cron == '0 2 * * *'
    run = ScriptRun.objects.get(schedule=schedule)
    assert run.status == RunStatusChoices.SCHEDULED and run.scheduled_at.hour == 2
    changed = client.patch(f'{API}/schedules/{schedule.pk}/', {'cron': '30 3 * * *'}, format='json')
    assert changed.status_code == 200, changed.content
    assert ScriptRun.objects.get(pk=run.pk).status == RunStatusChoices.CANCELLED
    assert ScriptRun.objects.get(schedule=schedule, status=RunStatusChoices.SCHEDULED).scheduled_at.minute == 30
    bad = client.post(f'{API}/schedules/', {'name': 'bad', 'script_id': hello.pk, 'inputs': {'nope': 1},
                                           'interval': 5}, format='json')
    assert bad.status_code == 400 and 'inputs' in bad.json()
    assert client.delete(f'{API}/schedules/{schedule.pk}/').status_code == 204
    assert not ScriptRun.objects.filter(status__in=RunStatusChoices.WAITING).exists()  # its queued run is cancelled


def test_run_endpoints_ignore_list_filters(admin):
    run = submit_run(Script.objects.get(class_name='Hello'), user=admin, source='cli', immediate=True)
    response = client_for(admin).get(f'{API}/runs/{run.pk}/log/?q=Hello')
    assert response.status_code == 200 and response.json()['count'] == 1


def test_a_schedule_without_commit_follows_commit_default_as_a_run_does(admin):
    # basic.Hello keeps NetBox's commit_default (True), behaviours.CreateSites says False: the schedule endpoint and
    # the run endpoint (interval) decide the same when the client does not say.
    client = client_for(admin)
    for script, expected in (('basic.Hello', True), ('behaviours.CreateSites', False)):
        module, __, class_name = script.partition('.')
        record = Script.objects.get(module__name=module, class_name=class_name)
        created = client.post(f'{API}/schedules/', {'name': f'{script} hourly', 'script_id': record.pk,
                                                     'interval': 60}, format='json')
        assert created.status_code == 201, created.content
        assert Schedule.objects.get(pk=created.json()['id']).commit is expected, script
        response = client.post(f'{API}/scripts/{script}/run/', {'interval': 60}, format='json')
        assert response.status_code == 201, response.content
        assert ScriptRun.objects.get(pk=response.json()['id']).schedule.commit is expected, script


def test_sync_without_a_scripts_directory_is_a_conflict_and_queues_nothing(admin, settings):
    from core.models import Job

    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=None)
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}
    jobs = Job.objects.count()
    response = client_for(admin).post(f'{API}/modules/sync/')
    assert response.status_code == 409, response.content
    assert 'scripts_dir' in response.json()['detail'] and Job.objects.count() == jobs


def test_a_rerun_takes_the_declared_run_options(admin):
    client = client_for(admin)
    first = client.post(f'{API}/scripts/basic.Hello/run/', {'schedule_at': (
        timezone.now() + datetime.timedelta(hours=1)).isoformat()}, format='json')
    assert first.status_code == 201, first.content
    again = client.post(f'{API}/runs/{first.json()["id"]}/rerun/', {'notifications': 'never'}, format='json')
    assert again.status_code == 201, again.content
    assert ScriptRun.objects.get(pk=again.json()['id']).notifications == 'never'
    bad = client.post(f'{API}/runs/{first.json()["id"]}/rerun/', {'notifications': 'sometimes'}, format='json')
    assert bad.status_code == 400 and 'notifications' in bad.json()
