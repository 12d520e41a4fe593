"""
Secret inputs on the command line stay out of `ps` and the shell history. `--data @-` reads the JSON object of
inputs from standard input (run, rerun, apply); empty, invalid or non-object input is refused with one sentence and
exit status 10. On a terminal the command asks, with getpass, for the secrets the run needs and `--data` left out:
`run` for required secrets without a default, `rerun`/`apply` for the secrets the earlier run was given (they are
never stored) and the required ones. It never asks without a terminal, nor for a run that would be refused or
scheduled; an empty answer leaves the input out; Ctrl-C or EOF at a prompt exits with 10 and runs nothing.

Each secret reaches the script (which logs its SHA-256 prefix and length) and appears nowhere else: not in stdout or
stderr (--json included), not on the terminal (no echo), not in the run record, its log or its job.
"""
import hashlib
import io
import json
import os
import re
import secrets
import select
import subprocess
import sys
import time

import pytest
from core.models import Job
from django.conf import settings

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import SECRET_MASK, save_source, upload_path
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED
from netbox_custom_scripts.models import RunLogChunk, Script, ScriptRun

from .utils import REPO, cli, make_user

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = 'cli_secrets.Login'

# Two required secrets without a default (a SecretVar and a StringVar named in Meta.sensitive_variables), an
# optional one and one with a default. The script proves what it received without revealing it.
SOURCE = """\
import hashlib

from netbox_custom_scripts.scripts import Script, SecretVar, StringVar


class Login(Script):
    class Meta:
        sensitive_variables = ('api_key',)
        commit_default = False

    username = StringVar()
    password = SecretVar(label='Password')
    api_key = StringVar(label='API key')
    otp = SecretVar(label='One-time code', required=False)
    pin = SecretVar(default='0000')

    def run(self, data, commit):
        for name in ('password', 'api_key', 'otp', 'pin'):
            value = data[name] or ''
            self.log_info(f'{name} sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]} length {len(value)}')
        return f'logged in as {data["username"]}'
"""

PROMPTS = {
    'password': 'Password (secret, not shown; empty to leave it out): ',
    'api_key': 'API key (secret, not shown; empty to leave it out): ',
    'otp': 'One-time code (secret, not shown; empty to leave it out): ',
    'pin': 'pin (secret, not shown; empty for the default): ',
}
LABELS = {prompt.split(' (')[0]: name for name, prompt in PROMPTS.items()}


@pytest.fixture
def login_script(admin):
    name = LOGIN.split('.')[0]
    save_source(name, SOURCE, source=ModuleSourceChoices.UPLOAD, file_path=upload_path(name),
                reject_invalid=True)
    return Script.objects.get(module__name=name, class_name='Login')


def new_secrets(tag):
    """Distinctive random values: where one turns up says which path let it out."""
    return {name: f'{name.upper()}-{tag}-{secrets.token_hex(8)}' for name in ('password', 'api_key', 'otp')}


def digest(value):
    return f'sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]} length {len(value)}'


def received(run):
    """What the script logged it received, by input name (the runner logs lines of its own too)."""
    lines = [line.message for line in run.log_entries]
    return dict(line.split(' ', 1) for line in lines if line.split(' ', 1)[0] in PROMPTS)


def expected(password, api_key, otp='', pin='0000'):
    return {'password': digest(password), 'api_key': digest(api_key), 'otp': digest(otp), 'pin': digest(pin)}


def assert_not_leaked(values, **outputs):
    """No secret value in the given outputs, nor in any run record, log line or job."""
    records = json.dumps([
        list(ScriptRun.objects.values()), list(RunLogChunk.objects.values()), list(Job.objects.values()),
    ], default=str)
    for value in values:
        for where, text in {**outputs, 'records': records}.items():
            assert value not in text, f'a secret value is in {where}'


def piped(monkeypatch, text):
    monkeypatch.setattr('sys.stdin', io.StringIO(text))


class _TerminalInput(io.StringIO):
    def isatty(self):
        return True


class Terminal:
    """
    Standard input is a terminal: records each getpass prompt and answers it from `answers` (input name: the text
    typed, or an exception to raise). Asking for an input without an answer fails the test.
    """

    def __init__(self, monkeypatch, **answers):
        self.answers = answers
        self.prompts = []
        monkeypatch.setattr('sys.stdin', _TerminalInput())
        monkeypatch.setattr('getpass.getpass', self.getpass)

    def getpass(self, prompt='Password: ', stream=None):
        self.prompts.append(prompt)
        name = LABELS[prompt.split(' (')[0]]
        answer = self.answers[name]
        if isinstance(answer, BaseException) or isinstance(answer, type):
            raise answer
        return answer


def make_dry_run(values, **extra):
    """An earlier dry run of the Login script, given `values` inline (the way a test may)."""
    status, _, err = cli('run', LOGIN, '--user', 'admin', '--data', json.dumps({'username': 'earlier', **values,
                                                                                 **extra}))
    assert status == 0, err
    return ScriptRun.objects.latest('pk')


def one_sentence(err):
    text = err.strip()
    return len(text.splitlines()) == 1 and text.endswith('.')


# --data @-


def test_data_from_stdin_reaches_the_script_and_nothing_else(login_script, monkeypatch):
    values = new_secrets('stdin')
    piped(monkeypatch, json.dumps({'username': 'alice', **values}))
    status, out, err = cli('run', LOGIN, '--user', 'admin', '--commit', '--json', '--data', '@-')
    assert status == 0, err
    run = ScriptRun.objects.get()
    assert run.status == RunStatusChoices.COMPLETED and run.commit
    assert received(run) == expected(**values)
    # --json prints the stored inputs: masked.
    masked = {'username': 'alice', 'password': SECRET_MASK, 'api_key': SECRET_MASK, 'otp': SECRET_MASK,
              'pin': SECRET_MASK}
    assert json.loads(out)['inputs'] == masked == run.inputs
    assert_not_leaked(values.values(), stdout=out, stderr=err)


@pytest.mark.parametrize('text, words', [
    ('', 'read nothing from standard input'),
    (' \n\t\n', 'read nothing from standard input'),
    ('{"username": "x", "password": "PW-in-broken-json', '--data is not valid JSON'),
    ('["PW-in-a-list"]', '--data must be a JSON object'),
    ('"PW-in-a-string"', '--data must be a JSON object'),
])
def test_bad_stdin_is_refused_by_run_rerun_and_apply(login_script, monkeypatch, text, words):
    earlier = make_dry_run(new_secrets('earlier'))
    for args in (('run', LOGIN), ('rerun', str(earlier.pk)), ('apply', str(earlier.pk))):
        piped(monkeypatch, text)
        status, out, err = cli(*args, '--user', 'admin', '--data', '@-')
        assert status == EXIT_REFUSED, (args, err)
        assert words in err and one_sentence(err), (args, err)
        assert 'PW-' not in out + err
        assert ScriptRun.objects.count() == 1, args  # nothing run


def test_stdin_for_rerun_and_apply(login_script, monkeypatch):
    first, second, third = new_secrets('first'), new_secrets('second'), new_secrets('third')
    earlier = make_dry_run(first)

    # Without a terminal, secrets left out are input errors, as before: nothing is asked, nothing run.
    piped(monkeypatch, '{}')
    status, _, err = cli('rerun', str(earlier.pk), '--user', 'admin', '--data', '@-')
    assert status == EXIT_REFUSED
    assert 'password: This field is required.' in err and 'api_key: This field is required.' in err
    assert ScriptRun.objects.count() == 1

    piped(monkeypatch, json.dumps({'password': second['password'], 'api_key': second['api_key']}))
    status, out1, err1 = cli('rerun', str(earlier.pk), '--user', 'admin', '--data', '@-')
    assert status == 0, err1
    again = ScriptRun.objects.latest('pk')
    assert again.rerun_of == earlier and not again.commit
    assert received(again) == expected(second['password'], second['api_key'])  # otp was not given again

    piped(monkeypatch, json.dumps(third))
    status, out2, err2 = cli('apply', str(again.pk), '--user', 'admin', '--json', '--data', '@-')
    assert status == 0, err2
    applied = ScriptRun.objects.latest('pk')
    assert applied.rerun_of == again and applied.commit and applied.status == RunStatusChoices.COMPLETED
    assert received(applied) == expected(**third)
    assert json.loads(out2)['inputs']['password'] == SECRET_MASK
    assert_not_leaked([*first.values(), *second.values(), *third.values()], output=out1 + err1 + out2 + err2)


def test_no_prompt_without_a_terminal(login_script, monkeypatch):
    def getpass(*args, **kwargs):
        raise AssertionError('getpass was called without a terminal')

    monkeypatch.setattr('getpass.getpass', getpass)
    piped(monkeypatch, '{"username": "ci"}')
    status, _, err = cli('run', LOGIN, '--user', 'admin', '--data', '@-')
    assert status == EXIT_REFUSED
    assert 'password: This field is required.' in err and 'api_key: This field is required.' in err
    assert 'otp' not in err and 'pin' not in err
    assert not ScriptRun.objects.exists()


# Asking on a terminal


def test_run_asks_on_a_terminal_for_the_required_secrets_left_out(login_script, monkeypatch):
    values = new_secrets('tty')
    terminal = Terminal(monkeypatch, password=values['password'], api_key=values['api_key'])
    status, out, err = cli('run', LOGIN, '--user', 'admin', '--json', '--data', '{"username": "bob"}')
    assert status == 0, err
    # Neither the optional secret nor the one with a default is asked for.
    assert terminal.prompts == [PROMPTS['password'], PROMPTS['api_key']]
    run = ScriptRun.objects.get()
    assert received(run) == expected(values['password'], values['api_key'])
    assert json.loads(out)['inputs']['api_key'] == SECRET_MASK

    # What --data gives is not asked for.
    terminal.prompts.clear()
    status, out2, err2 = cli('run', LOGIN, '--user', 'admin', '--data',
                             json.dumps({'username': 'bob', 'api_key': values['api_key']}))
    assert status == 0, err2
    assert terminal.prompts == [PROMPTS['password']]
    assert received(ScriptRun.objects.latest('pk')) == expected(values['password'], values['api_key'])
    assert_not_leaked(values.values(), output=out + err + out2 + err2)

    # Nothing is asked for a run that is refused anyway: no permission, or scheduled (secrets are never stored).
    terminal.prompts.clear()
    make_user('viewer', (Script, ['view']))
    status, _, err = cli('run', LOGIN, '--user', 'viewer', '--data', '{"username": "eve"}')
    assert status == EXIT_REFUSED and 'may not run' in err
    status, _, err = cli('run', LOGIN, '--user', 'admin', '--schedule-at', '2099-01-01T00:00:00', '--data',
                         '{"username": "later"}')
    assert status == EXIT_REFUSED and 'password: This field is required.' in err
    assert terminal.prompts == []
    assert ScriptRun.objects.count() == 2


def test_an_empty_answer_means_not_given(login_script, monkeypatch):
    values = new_secrets('empty')
    terminal = Terminal(monkeypatch, password='', api_key=values['api_key'])
    status, out, err = cli('run', LOGIN, '--user', 'admin', '--data', '{"username": "bob"}')
    assert terminal.prompts == [PROMPTS['password'], PROMPTS['api_key']]
    assert status == EXIT_REFUSED
    assert 'password: This field is required.' in err and 'api_key' not in err
    assert not ScriptRun.objects.exists()
    assert_not_leaked(values.values(), output=out + err)


@pytest.mark.parametrize('interruption', [KeyboardInterrupt, EOFError])
@pytest.mark.parametrize('command', ['run', 'rerun', 'apply'])
def test_ctrl_c_or_eof_at_a_prompt_runs_nothing(login_script, monkeypatch, command, interruption):
    values = new_secrets('cancel')
    earlier = make_dry_run(new_secrets('earlier'))
    terminal = Terminal(monkeypatch, password=values['password'], api_key=interruption)
    target = LOGIN if command == 'run' else str(earlier.pk)
    status, out, err = cli(command, target, '--user', 'admin', '--data', '{"username": "bob"}')
    assert terminal.prompts[:2] == [PROMPTS['password'], PROMPTS['api_key']]
    assert status == EXIT_REFUSED
    assert err.strip() == "Cancelled at the prompt for the secret input 'api_key'; nothing was run."
    assert ScriptRun.objects.count() == 1
    assert_not_leaked(values.values(), output=out + err)


def test_rerun_and_apply_ask_again_for_the_secrets_the_earlier_run_was_given(login_script, monkeypatch):
    first, second, third = new_secrets('first'), new_secrets('second'), new_secrets('third')
    with_otp = make_dry_run(first)
    without_otp = make_dry_run({'password': first['password'], 'api_key': first['api_key']})

    # The pin took its default, which is stored masked like any secret: it is asked for, empty keeps the default.
    terminal = Terminal(monkeypatch, password=second['password'], otp=second['otp'], pin='')
    status, out1, err1 = cli('rerun', str(with_otp.pk), '--user', 'admin', '--data',
                             json.dumps({'api_key': second['api_key']}))
    assert status == 0, err1
    assert terminal.prompts == [PROMPTS['password'], PROMPTS['otp'], PROMPTS['pin']]
    again = ScriptRun.objects.latest('pk')
    assert again.rerun_of == with_otp and received(again) == expected(**second)

    # An optional secret the earlier run was not given is not asked for.
    pin = f'PIN-{secrets.token_hex(8)}'
    terminal = Terminal(monkeypatch, password=third['password'], api_key=third['api_key'], pin=pin)
    status, out2, err2 = cli('apply', str(without_otp.pk), '--user', 'admin')
    assert status == 0, err2
    assert terminal.prompts == [PROMPTS['password'], PROMPTS['api_key'], PROMPTS['pin']]
    applied = ScriptRun.objects.latest('pk')
    assert applied.rerun_of == without_otp and applied.commit
    assert received(applied) == expected(third['password'], third['api_key'], pin=pin)
    assert_not_leaked([*first.values(), *second.values(), *third.values(), pin],
                      output=out1 + err1 + out2 + err2)


# Real processes: a pipe, and a pseudo-terminal


def netbox_env():
    return dict(os.environ, NB_DB_NAME=settings.DATABASES['default']['NAME'])


NETBOX = os.path.join(os.path.dirname(sys.executable), 'netbox')


def test_stdin_pipe_in_a_real_process(login_script):
    values = new_secrets('pipe')
    command = [NETBOX, 'custom_scripts', 'run', LOGIN, '--user', 'admin', '--commit', '--json', '--data', '@-']
    result = subprocess.run(command, input=json.dumps({'username': 'pipe', **values}), env=netbox_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run = ScriptRun.objects.get()
    assert json.loads(result.stdout)['id'] == run.pk and run.status == RunStatusChoices.COMPLETED
    assert received(run) == expected(**values)
    assert_not_leaked(values.values(), stdout=result.stdout, stderr=result.stderr)

    result = subprocess.run(command, input='', env=netbox_env(), cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == EXIT_REFUSED
    assert result.stderr.strip() == ('CommandError: --data @- read nothing from standard input; pipe a JSON object '
                                     'of inputs into it.')
    assert ScriptRun.objects.count() == 1


class PtyProcess:
    """The real command on a pseudo-terminal that is its controlling terminal and its stdin, stdout and stderr."""

    def __init__(self, *args):
        self.master, slave = os.openpty()
        # os.login_tty makes the pty the child's controlling terminal (so getpass opens it as /dev/tty and Ctrl-C
        # sends SIGINT), without forking this multi-threaded test process with a preexec_fn.
        driver = 'import os, sys; os.login_tty(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])'
        self.process = subprocess.Popen([sys.executable, '-c', driver, str(slave), NETBOX, 'custom_scripts', *args],
                                        env=netbox_env(), cwd=REPO, pass_fds=(slave,))
        os.close(slave)
        self.transcript = b''

    def expect(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.transcript:
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f'{text!r} never appeared; the terminal shows: {self.transcript!r}')

    def type(self, text):
        os.write(self.master, text.encode())

    def finish(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass
        # The terminal closes only once the command has exited: closing it first would hang it up (SIGHUP) while it
        # is still exiting, and the exit status would be the signal's.
        try:
            return self.process.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            os.close(self.master)

    def _read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.transcript += chunk
        return bool(chunk)

    @property
    def text(self):
        return re.sub(r'\r\n?', '\n', self.transcript.decode(errors='replace'))


def test_a_real_terminal_asks_without_echo(login_script):
    values = new_secrets('pty')
    terminal = PtyProcess('run', LOGIN, '--user', 'admin', '--commit', '--data', '{"username": "pty"}')
    # Typed only once the prompt shows: getpass turns echo off (and flushes pending input) before it prompts.
    terminal.expect(PROMPTS['password'])
    terminal.type(values['password'] + '\n')
    terminal.expect(PROMPTS['api_key'])
    terminal.type(values['api_key'] + '\n')
    assert terminal.finish() == 0, terminal.text
    assert 'logged in as pty' in terminal.text and PROMPTS['otp'] not in terminal.text
    run = ScriptRun.objects.get()
    assert run.commit and received(run) == expected(values['password'], values['api_key'])
    assert_not_leaked(values.values(), terminal=terminal.text)  # nothing echoed or printed


@pytest.mark.parametrize('key', ['\x03', '\x04'], ids=['ctrl-c', 'ctrl-d'])
def test_a_real_terminal_cancelled_at_a_prompt(login_script, key):
    values = new_secrets('pty')
    terminal = PtyProcess('run', LOGIN, '--user', 'admin', '--commit', '--data', '{"username": "pty"}')
    terminal.expect(PROMPTS['password'])
    terminal.type(values['password'] + '\n')
    terminal.expect(PROMPTS['api_key'])
    terminal.type(key)
    assert terminal.finish() == EXIT_REFUSED, terminal.text
    assert "CommandError: Cancelled at the prompt for the secret input 'api_key'; nothing was run." in terminal.text
    assert 'Traceback' not in terminal.text
    assert not ScriptRun.objects.exists()
    assert_not_leaked(values.values(), terminal=terminal.text)
