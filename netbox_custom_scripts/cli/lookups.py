"""What the command line names (a user, a script, a run) looked up, and inputs read from --data or asked for."""
import getpass
import json
import sys
import warnings

from django.core.management.base import CommandError

from ..execution import (
    check_run_permission,
    get_script_class,
    sync_directory,
    visible_variables,
)
from ..models import Script, ScriptRun
from ..scripting.meta import secret_variable_names
from ..scripting.variables import FileVar
from ..text import is_whole_number
from .errors import EXIT_REFUSED


def stdin_is_terminal():
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def get_user(username):
    from users.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f'No user named {username!r}; give an existing user with --user.',
                           returncode=EXIT_REFUSED)
    if not user.is_active:
        raise CommandError(f'User {username!r} is inactive.', returncode=EXIT_REFUSED)
    return user


def get_script(reference):
    sync_directory()
    queryset = Script.objects.select_related('module__current_revision')
    if is_whole_number(reference):
        script = queryset.filter(pk=int(reference)).first()
    else:
        try:
            script = queryset.get_by_reference(reference)
        except Script.DoesNotExist:
            script = None
    if script is None:
        raise CommandError(f'No script {reference!r}; `netbox custom_scripts list` shows them.',
                           returncode=EXIT_REFUSED)
    return script


def get_run(run_id):
    run = ScriptRun.objects.select_related('script__module', 'user').filter(pk=run_id).first()
    if run is None:
        raise CommandError(f'No run #{run_id}.', returncode=EXIT_REFUSED)
    return run


def read_data(value):
    text = value
    if value == '@-':
        # Piped in, secret values stay out of `ps` and the shell history.
        try:
            text = sys.stdin.read()
        except KeyboardInterrupt:
            raise CommandError('Cancelled while reading --data from standard input; nothing was run.',
                               returncode=EXIT_REFUSED) from None
        except UnicodeDecodeError:
            raise CommandError('--data @- read standard input that is not UTF-8 text.',
                               returncode=EXIT_REFUSED) from None
        except OSError as exc:
            raise CommandError(f'Cannot read standard input for --data @-: {exc.strerror or exc}.',
                               returncode=EXIT_REFUSED) from None
        if not text.strip():
            raise CommandError('--data @- read nothing from standard input; pipe a JSON object of inputs into it.',
                               returncode=EXIT_REFUSED)
    elif value.startswith('@'):
        try:
            with open(value[1:], encoding='utf-8') as f:
                text = f.read()
        except OSError as exc:
            raise CommandError(f'Cannot read {value[1:]}: {exc.strerror}.', returncode=EXIT_REFUSED)
    try:
        data = json.loads(text)
    except ValueError as exc:
        # The decoder's message gives a position, never the text (which may hold secrets).
        raise CommandError(f'--data is not valid JSON: {exc}.', returncode=EXIT_REFUSED) from None
    if not isinstance(data, dict):
        raise CommandError('--data must be a JSON object of input values by variable name.',
                           returncode=EXIT_REFUSED)
    return data


def ask_for_secrets(script, user, data, given_before=()):
    """
    On a terminal, ask (without echo) for the secret inputs that `data` leaves out and the run needs: each
    required one without a default, and each in `given_before` (a re-run's, since secrets are never stored).
    An empty answer leaves the input out. Returns the inputs to submit.
    """
    if not stdin_is_terminal():
        return data  # scripts and CI: a missing secret is reported as an input error, never waited for
    script_class = get_script_class(script)
    secret_names = secret_variable_names(script_class)
    # Variables the form hides always take their default and cannot be given.
    wanted = [
        (name, var) for name, var in visible_variables(script_class).items()
        if name in secret_names and name not in data and not isinstance(var, FileVar)
        and (name in given_before or (var.required and var.default in (None, '')))
    ]
    if not wanted:
        return data
    check_run_permission(script, user)  # ask for no secret that a refused run would never use
    data = dict(data)
    for name, var in wanted:
        empty = 'empty for the default' if var.default not in (None, '') else 'empty to leave it out'
        prompt = f'{var.label or name} (secret, not shown; {empty}): '
        try:
            with warnings.catch_warnings():
                # getpass echoes the input, with only a warning, when it cannot turn echo off: refuse instead.
                warnings.simplefilter('error', getpass.GetPassWarning)
                value = getpass.getpass(prompt)
        except (EOFError, KeyboardInterrupt):
            raise CommandError(f'Cancelled at the prompt for the secret input {name!r}; nothing was run.',
                               returncode=EXIT_REFUSED) from None
        except getpass.GetPassWarning:
            raise CommandError('Cannot turn off echo on this terminal to ask for secret inputs; give them with '
                               '--data @- instead.', returncode=EXIT_REFUSED) from None
        if value:
            data[name] = value
    return data
