"""
Runs go through one path (submit_run) and end with a truthful status, a complete record and all-or-nothing
database changes. These run in this process (the CLI/nbshell path); tests/test_worker_runs.py covers RQ workers.
"""
import pytest
from dcim.models import Site

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import ScriptRun

from .utils import submit

pytestmark = pytest.mark.django_db(transaction=True)


def run_now(full_name, user, data=None, commit=False):
    sync_directory()
    return submit(full_name, user, data, commit=commit, source=RunSourceChoices.CLI, immediate=True)


def test_committed_run_creates_objects_and_records_everything(admin):
    run = run_now('behaviours.CreateSites', admin, {'prefix': 'ams', 'count': 3}, commit=True)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert Site.objects.filter(name__startswith='ams-').count() == 3
    assert [e.message for e in run.log_entries.all()][:3] == ['Created ams-0', 'Created ams-1', 'Created ams-2']
    assert run.log_entries.first().url == Site.objects.get(name='ams-0').get_absolute_url()
    assert run.output_format == 'json' and '"created": 3' in run.output
    assert run.changes.count() == 3 and run.change_count == 3
    assert set(run.changes.values_list('action', flat=True)) == {'create'}
    assert (run.progress_done, run.progress_total) == (3, 3)
    assert run.inputs == {'prefix': 'ams', 'count': 3, 'fail_after': None}
    assert run.job is not None
    assert run.job.status == 'completed', (run.job.error, run.job.log_entries)
    assert run.user == admin and run.source == RunSourceChoices.CLI


def test_dry_run_rolls_back_but_records_the_would_be_changes(admin):
    run = run_now('behaviours.CreateSites', admin, {'prefix': 'dry', 'count': 2}, commit=False)
    assert run.status == RunStatusChoices.COMPLETED
    assert not Site.objects.filter(name__startswith='dry-').exists()
    changes = list(run.changes.order_by('pk'))
    assert [c.object_repr for c in changes] == ['dry-0', 'dry-1']
    assert changes[0].postchange_data['slug'] == 'dry-0'
    assert run.log_entries.last().message == 'Dry run: all changes were rolled back.'


def test_exception_rolls_back_everything_and_keeps_the_traceback(admin):
    run = run_now('behaviours.CreateSites', admin, {'prefix': 'err', 'count': 5, 'fail_after': 2}, commit=True)
    assert run.status == RunStatusChoices.ERRORED
    assert run.error == 'RuntimeError: failing after 2 sites'
    assert 'Traceback' in run.traceback and 'failing after 2 sites' in run.traceback
    assert not Site.objects.filter(name__startswith='err-').exists()
    assert run.job.status == 'errored'


@pytest.mark.parametrize('netbox_style', [0, 1])
def test_abort_is_aborted_not_errored(admin, netbox_style):
    run = run_now('behaviours.Abort', admin, {'use_netbox_exception': netbox_style}, commit=True)
    assert run.status == RunStatusChoices.ABORTED
    assert run.error == ('NetBox-style abort' if netbox_style else 'Input looked wrong')
    assert run.traceback == ''
    assert not Site.objects.filter(name='never').exists()
    assert run.job.status == 'failed'


def test_log_failure_completes_with_failures(admin):
    run = run_now('behaviours.LogFailure', admin, commit=True)
    assert run.status == RunStatusChoices.FAILED
    assert run.output == 'done anyway'
    assert run.log_counts == {'warning': 1, 'failure': 1}


def test_timeout_in_process(admin):
    run = run_now('behaviours.Sleepy', admin, commit=True)
    assert run.status == RunStatusChoices.TIMED_OUT
    assert not Site.objects.filter(name='sleepy').exists()
    assert sum(line.message.startswith('tick') for line in run.log_entries) >= 10


def test_secret_is_never_stored(admin):
    run = run_now('behaviours.WithSecret', admin, {'username': 'bob', 'password': 'hunter2-very-secret'})
    assert run.status == RunStatusChoices.COMPLETED
    assert run.output == 'password length 19'
    assert run.inputs == {'username': 'bob', 'password': '********'}
    assert not ScriptRun.objects.filter(inputs__icontains='hunter2').exists()


def test_log_lines_with_objects_of_an_uncached_type(admin):
    """The recorder resolves object types before it starts writing (no query may interrupt its COPY)."""
    from django.contrib.contenttypes.models import ContentType

    Site.objects.create(name='seen-1', slug='seen-1')
    ContentType.objects.clear_cache()
    run = run_now('behaviours.LogObjects', admin)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    entry = next(line for line in run.log_entries if line.message == 'seen')
    assert entry.object_type.model == 'site' and entry.object_repr == 'seen-1'


@pytest.mark.parametrize('notifications, script, notified', [
    ('always', 'basic.Hello', True),
    ('on_failure', 'basic.Hello', False),
    ('on_failure', 'behaviours.LogFailure', True),
    ('never', 'behaviours.LogFailure', False),
])
def test_notifications(admin, notifications, script, notified):
    from extras.models import Notification

    sync_directory()
    run = submit(script, admin, commit=None, notifications=notifications, source=RunSourceChoices.CLI,
                 immediate=True)
    assert run.notifications == notifications
    assert Notification.objects.filter(user=admin).exists() == notified
