"""
`netbox custom_scripts`: list, run (in this process or queued), show and sync. A run goes through the same path as
the UI and API and is recorded like any other; log lines are printed as they arrive; the exit status says how the
run ended (0 only when it completed cleanly); an unknown user is refused, never replaced by a superuser; and the
command does not load NetBox's URL configuration or GraphQL schema, so it starts fast.
"""
import json
import os
import subprocess
import sys

import pytest
from dcim.models import Site
from django.conf import settings

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED
from netbox_custom_scripts.models import Script, ScriptRun

from .utils import cli, make_user

pytestmark = pytest.mark.django_db(transaction=True)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_list(admin):
    status, out, _ = cli('list')
    assert status == 0
    assert 'basic.Hello' in out and 'behaviours.CreateSites' in out
    status, out, _ = cli('list', '--json')
    assert {'basic.Hello', 'basic.Count'} <= {row['full_name'] for row in json.loads(out)}


def test_run_prints_the_log_and_records_the_run(admin):
    status, out, err = cli('run', 'behaviours.CreateSites', '--user', 'admin', '--commit',
                           '--data', '{"prefix": "cli", "count": 2}')
    assert status == 0, err
    assert '[success] cli-0: Created cli-0' in out and '[success] cli-1: Created cli-1' in out
    assert '"created": 2' in out  # the output
    run = ScriptRun.objects.get()
    assert err.strip() == f'Run #{run.pk}: Completed'
    assert run.source == RunSourceChoices.CLI and run.user.username == 'admin' and run.commit
    assert Site.objects.filter(name__startswith='cli-').count() == 2


def test_dry_run_is_the_default(admin):
    status, _, err = cli('run', 'behaviours.CreateSites', '--user', 'admin', '--data', '{"prefix": "dry"}')
    assert status == 0 and 'dry run' in err
    assert not Site.objects.exists() and not ScriptRun.objects.get().commit


@pytest.mark.parametrize('script, data, code, words', [
    ('behaviours.LogFailure', '{}', 1, 'Completed with failures'),
    ('behaviours.Abort', '{}', 2, 'Aborted: Input looked wrong'),
    ('behaviours.CreateSites', '{"count": 3, "fail_after": 1}', 3, 'RuntimeError: failing after 1 sites'),
])
def test_exit_status_tells_how_the_run_ended(admin, script, data, code, words):
    status, _, err = cli('run', script, '--user', 'admin', '--commit', '--data', data)
    assert status == code
    assert words in err


def test_loglevel_filters_printed_lines(admin):
    _, out, _ = cli('run', 'behaviours.LogFailure', '--user', 'admin', '--loglevel', 'error')
    assert '[failure] this device is misconfigured' in out and 'careful' not in out


def test_unknown_user_is_refused_not_replaced(admin):
    status, _, err = cli('run', 'basic.Hello', '--user', 'nosuchuser')
    assert status == EXIT_REFUSED
    assert "No user named 'nosuchuser'" in err
    assert not ScriptRun.objects.exists()


def test_user_without_run_permission_is_refused(admin):
    make_user('viewer', (Script, ['view']))
    status, _, err = cli('run', 'basic.Hello', '--user', 'viewer')
    assert status == EXIT_REFUSED and 'may not run' in err
    assert not ScriptRun.objects.exists()


@pytest.mark.parametrize('data, words', [
    ('{"times": 9}', 'times: Ensure this value is less than or equal to 5'),
    ('not json', '--data is not valid JSON'),
    ('[1, 2]', 'must be a JSON object'),
    ('@/nonexistent/file.json', 'Cannot read /nonexistent/file.json'),
])
def test_bad_data_is_refused(admin, data, words):
    status, _, err = cli('run', 'basic.Count', '--user', 'admin', '--data', data)
    assert status == EXIT_REFUSED and words in err
    assert not ScriptRun.objects.exists()


def test_data_from_a_file(admin, tmp_path):
    path = tmp_path / 'data.json'
    path.write_text('{"who": "file"}')
    status, out, _ = cli('run', 'basic.Hello', '--user', 'admin', '--data', f'@{path}')
    assert status == 0 and 'Hello, file!' in out


def test_background_queues_the_run_and_show_follows_it(admin, rq_worker):
    status, _, err = cli('run', 'basic.Hello', '--user', 'admin', '--background', '--data', '{"who": "worker"}')
    assert status == 0
    run = ScriptRun.objects.get()
    assert f'Queued run #{run.pk}' in err
    status, out, _ = cli('show', str(run.pk), '--follow')
    assert status == 0 and '[info] Hello, worker!' in out
    run.refresh_from_db()
    assert run.status == RunStatusChoices.COMPLETED
    _, out, _ = cli('show', str(run.pk), '--json')
    assert json.loads(out)['log'][0]['message'] == 'Hello, worker!'


def test_schedule_at_queues_for_later(admin):
    status, _, err = cli('run', 'basic.Hello', '--user', 'admin', '--schedule-at', '2099-01-01T00:00:00')
    assert status == 0 and 'scheduled' in err
    assert ScriptRun.objects.get().status == RunStatusChoices.SCHEDULED
    status, _, err = cli('run', 'basic.Hello', '--user', 'admin', '--schedule-at', 'tomorrow')
    assert status == EXIT_REFUSED and 'not an ISO 8601' in err


def test_json_summary(admin):
    status, out, _ = cli('run', 'basic.Hello', '--user', 'admin', '--json')
    summary = json.loads(out)
    assert status == 0 and summary['status'] == 'completed' and summary['output'] == 'hello world'


def test_whole_process_does_not_load_urls_or_graphql(admin):
    """The real command in a fresh interpreter: a run completes, and NetBox's URLconf and GraphQL stay unloaded."""
    driver = (
        'import sys, django\n'
        'django.setup()\n'
        'from django.core.management import call_command\n'
        'try:\n'
        '    call_command("custom_scripts", "run", "behaviours.CreateSites", "--user", "admin", "--data",'
        ' \'{"prefix": "proc", "count": 1}\')\n'
        'except SystemExit as exc:\n'
        '    print("exit", exc.code)\n'
        'print("loaded:", sorted(m for m in ("netbox.urls", "netbox.graphql.schema") if m in sys.modules))\n'
    )
    env = dict(os.environ, NB_DB_NAME=settings.DATABASES['default']['NAME'], DJANGO_SETTINGS_MODULE='tests.settings')
    result = subprocess.run([sys.executable, '-c', driver], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert 'Created proc-0' in result.stdout, result.stderr
    assert 'loaded: []' in result.stdout, result.stdout
    assert ScriptRun.objects.get().status == RunStatusChoices.COMPLETED


def test_a_script_cannot_drive_the_terminal_with_its_log(admin):
    """Control characters a script logs are printed as escapes: no colours, cursor moves or forged lines."""
    who = 'x\x1b[2J\x1b[31mred\rover\n[failure] forged\x07\ttab'
    status, out, _ = cli('run', 'basic.Hello', '--user', 'admin', '--data', json.dumps({'who': who}))
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith('[info] Hello'))
    assert line == '[info] Hello, x\\x1b[2J\\x1b[31mred\\rover\\n[failure] forged\\x07\ttab!'
    # The output (the script's text, printed with its line breaks) is escaped the same way otherwise.
    assert '\x1b' not in out and '\r' not in out and '\x07' not in out
    assert 'hello x\\x1b[2J\\x1b[31mred\\rover\n[failure] forged\\x07\ttab' in out
