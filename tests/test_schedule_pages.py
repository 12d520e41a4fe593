"""
Schedules in the web UI: created from the run form (interval or cron) or the schedule form (inputs validated as a
run's would be, as the user saving it), listed, paused and resumed, each change queueing or cancelling the run.
"""
import pytest
from django.test import Client
from django.urls import reverse

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import Schedule, Script, ScriptRun

from .utils import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client():
    sync_directory()
    client = Client()
    client.force_login(make_user('admin', is_superuser=True))
    return client


def test_cron_from_the_run_form(client):
    hello = Script.objects.get(class_name='Hello')
    response = client.post(hello.get_absolute_url(), {'who': 'cron', '_cron': '15 4 * * *'})
    schedule = Schedule.objects.get()
    assert response.status_code == 302 and schedule.cron == '15 4 * * *' and schedule.inputs == {'who': 'cron'}
    run = ScriptRun.objects.get()
    assert run.status == RunStatusChoices.SCHEDULED and (run.scheduled_at.hour, run.scheduled_at.minute) == (4, 15)
    bad = client.post(hello.get_absolute_url(), {'who': 'x', '_cron': 'every day'})
    assert bad.status_code == 200 and 'exactly five fields' in bad.content.decode()
    assert Schedule.objects.count() == 1


def test_schedule_form_pause_and_resume(client):
    hello = Script.objects.get(class_name='Hello')
    response = client.post(reverse('plugins:netbox_custom_scripts:schedule_add'), {
        'name': 'hourly hello', 'script': hello.pk, 'inputs': '{"who": "form"}', 'interval': 60,
        'notifications': 'never',
    })
    assert response.status_code == 302, response.content.decode()[-2000:]
    schedule = Schedule.objects.get()
    assert schedule.interval == 60 and schedule.inputs == {'who': 'form'}
    assert ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING).count() == 1
    page = client.get(schedule.get_absolute_url()).content.decode()
    assert 'id="pause-schedule"' in page
    client.post(reverse('plugins:netbox_custom_scripts:schedule_pause', args=[schedule.pk]))
    schedule.refresh_from_db()
    assert not schedule.enabled
    assert not ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING).exists()
    client.post(reverse('plugins:netbox_custom_scripts:schedule_resume', args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.enabled
    assert ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING).count() == 1


def test_schedule_form_refuses_bad_inputs(client):
    hello = Script.objects.get(class_name='Hello')
    response = client.post(reverse('plugins:netbox_custom_scripts:schedule_add'), {
        'name': 'bad', 'script': hello.pk, 'inputs': '{"nope": 1}', 'interval': 5, 'notifications': 'never',
    })
    assert response.status_code == 200 and 'Unknown variable(s): nope' in response.content.decode()
    assert not Schedule.objects.exists() and not ScriptRun.objects.exists()
