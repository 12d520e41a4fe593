"""
Contract: a script cannot commit past its time limit or a cancel, whatever it catches. Once the limit has passed or
someone cancelled the run, the run never commits (checked right before the commit); a script that keeps running
`stop_grace_period` seconds later (the test command sets 3) - because it catches `Exception`, `BaseException` or
everything with a bare `except:`, or because it is blocked where no exception reaches it - is stopped hard: its
database session is ended, so PostgreSQL rolls back its writes, it ends *timed out* / *cancelled* with its log
kept, its core Job ends too, and the worker goes on with the next job.
"""
import json
import os
import subprocess
import sys
import time

import pytest
from dcim.models import Site
from django.conf import settings

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import cancel_run
from netbox_custom_scripts.models import ScriptRun

from ..utils import REPO
from .helpers import (
    FIXTURES,
    WRITES,
    assert_next_run_completes,
    busy,
    fingerprint,
    finished,
    log_messages,
    logged,
    release,
    submit,
)

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = settings.PLUGINS_CONFIG['netbox_custom_scripts']['stop_grace_period']
HARD_STOPPED = 'stopped hard'


def stubborn_plan(step):
    return [*WRITES, ['site', 'stubborn-site'], ['backend'], step]


def run_and_interrupt(admin, script, step, cancel_after=None):
    run = submit(script, admin, plan=stubborn_plan(step))
    backend = int(logged(run, 'backend ').split()[1])
    if cancel_after is not None:
        logged(run, f'{len(WRITES) + 2} ')  # the stubborn step has started
        time.sleep(cancel_after)
        cancel_run(run, admin)
    started = time.monotonic()
    return finished(run, timeout=90), backend, started


@pytest.mark.parametrize('catch', ['Exception', 'BaseException', 'bare'])
def test_a_timeout_the_script_catches_never_commits(rq_worker, baseline, admin, catch):
    run, backend, _ = run_and_interrupt(admin, 'TimedPlan', ['stubborn', 30, catch])
    try:
        assert run.status == RunStatusChoices.TIMED_OUT, (run.status, run.error, log_messages(run)[-5:])
        assert run.job.status == 'errored'
        messages = log_messages(run)
        assert any('caught' in line for line in messages), messages[-5:]
        assert HARD_STOPPED in messages[-1] and 'rolled back' in messages[-1], messages[-3:]
        assert 'stubborn done' not in ' '.join(messages)
        # Stopped well before the script's 30 s were up: the limit (3 s) plus the grace.
        assert (run.completed - run.started).total_seconds() < 3 + GRACE + 10
        assert not busy(backend), 'the hard-stopped run left its database session behind'
    finally:
        release(backend)
    assert fingerprint() == baseline
    assert_next_run_completes(admin)


@pytest.mark.parametrize('catch', ['BaseException', 'bare'])
def test_a_cancel_the_script_catches_never_commits(rq_worker, baseline, admin, catch):
    run, backend, _ = run_and_interrupt(admin, 'Plan', ['stubborn', 60, catch], cancel_after=1)
    try:
        assert run.status == RunStatusChoices.CANCELLED, (run.status, run.error, log_messages(run)[-5:])
        messages = log_messages(run)
        assert any('caught' in line for line in messages), messages[-5:]
        assert HARD_STOPPED in messages[-1], messages[-3:]
        assert (run.completed - run.cancel_requested).total_seconds() < GRACE + 10
        assert not busy(backend)
    finally:
        release(backend)
    assert fingerprint() == baseline
    assert_next_run_completes(admin)


def test_a_script_that_returns_after_catching_the_timeout_is_rolled_back(rq_worker, baseline, admin):
    # It swallows the timeout and returns normally before the grace is over: the check before the commit refuses.
    assert GRACE >= 3, 'the script must be able to finish inside the grace period'
    run, backend, _ = run_and_interrupt(admin, 'TimedPlan', ['stubborn', 4, 'Exception'])
    release(backend)
    assert run.status == RunStatusChoices.TIMED_OUT, (run.status, run.error, log_messages(run)[-5:])
    messages = log_messages(run)
    assert f'{len(WRITES) + 2} stubborn done' in messages
    assert HARD_STOPPED not in messages[-1]
    assert fingerprint() == baseline


def test_a_script_that_returns_after_catching_a_cancel_is_rolled_back(rq_worker, baseline, admin):
    run, backend, _ = run_and_interrupt(admin, 'Plan', ['stubborn', 2, 'BaseException'], cancel_after=0)
    release(backend)
    assert run.status == RunStatusChoices.CANCELLED, (run.status, run.error, log_messages(run)[-5:])
    assert fingerprint() == baseline


@pytest.mark.parametrize('interruption', ['timeout', 'cancel'])
def test_a_script_no_exception_reaches_is_stopped_hard(rq_worker, baseline, admin, interruption):
    script = 'TimedPlan' if interruption == 'timeout' else 'Plan'
    run, backend, _ = run_and_interrupt(admin, script, ['blocked', 60],
                                        cancel_after=1 if interruption == 'cancel' else None)
    try:
        expected = RunStatusChoices.TIMED_OUT if interruption == 'timeout' else RunStatusChoices.CANCELLED
        assert run.status == expected, (run.status, run.error, log_messages(run)[-5:])
        messages = log_messages(run)
        assert HARD_STOPPED in messages[-1], messages[-3:]
        assert 'blocked done' not in ' '.join(messages)
        assert not busy(backend)
    finally:
        release(backend)
    assert fingerprint() == baseline
    assert_next_run_completes(admin)


def test_the_cli_stops_a_stubborn_script_it_runs_itself(baseline, admin):
    # `netbox custom_scripts run` executes the run in its own process: a script that swallows the timeout is stopped
    # hard there too, and the command exits with the timed-out status.
    env = dict(os.environ, NB_DB_NAME=settings.DATABASES['default']['NAME'], NBCS_SCRIPTS_DIR=FIXTURES)
    plan = json.dumps([['site', 'cli-stubborn'], ['stubborn', 60, 'BaseException']])
    started = time.monotonic()
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'netbox'), 'custom_scripts', 'run', 'faults.TimedPlan',
         '--user', admin.username, '--commit', '--data', json.dumps({'plan': plan})],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 4, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert HARD_STOPPED in result.stderr
    assert time.monotonic() - started < 60
    run = ScriptRun.objects.get()
    assert run.status == RunStatusChoices.TIMED_OUT and HARD_STOPPED in log_messages(run)[-1]
    assert fingerprint() == baseline


@pytest.mark.parametrize('script, tail', [
    ('Plan', []),  # it returns normally afterwards
    ('TimedPlan', [['stubborn', 30, 'BaseException']]),  # it swallows the timeout and is stopped hard
])
def test_a_script_that_commits_behind_the_runs_back_is_not_reported_as_rolled_back(rq_worker, baseline, admin,
                                                                                  script, tail):
    # A script author can run COMMIT in SQL; the run cannot undo that, but its record must not claim it did.
    run = submit(script, admin, commit=False, plan=[['site', 'sql-commit'], ['sql_commit'], *tail])
    run = finished(run, timeout=90)
    messages = log_messages(run)
    assert 'COMMIT or ROLLBACK in SQL' in run.error, (run.status, run.error, messages[-3:])
    assert 'all its changes were rolled back' not in run.error
    assert run.status in (RunStatusChoices.ERRORED, RunStatusChoices.TIMED_OUT)
    assert not any(line.startswith('Dry run: all changes were rolled back') for line in messages)
    Site.objects.filter(name='sql-commit').delete()  # what the script committed itself
