"""
Helpers shared by the tests: users with NetBox object permissions, API tokens, the CLI in this process, waiting,
submitting a script's run by name and waiting for it to end, and real `netbox rqworker` processes.

Plain functions and data live here (and in each suite's helper modules); fixtures live in the conftest.py files.
"""
import ctypes
import io
import os
import signal
import subprocess
import sys
import time

from core.choices import JobStatusChoices
from core.models import ObjectType
from django.conf import settings
from django.core.management import CommandError, call_command
from users.models import ObjectPermission, Token, User

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import submit_run
from netbox_custom_scripts.models import Script, ScriptRun

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_user(username, *permissions, is_superuser=False):
    """
    A user with ObjectPermissions. Each permission is (model class, actions) or (model class, actions, constraints).
    """
    user = User.objects.create_user(username=username, password='pw-' + username, is_superuser=is_superuser)
    for index, permission in enumerate(permissions):
        model, actions, *constraints = permission
        grant = ObjectPermission.objects.create(
            name=f'{username}-{index}',
            actions=list(actions),
            constraints=constraints[0] if constraints else None,
        )
        grant.object_types.add(ObjectType.objects.get_for_model(model))
        grant.users.add(user)
    return user


def token_header(user):
    token = Token(user=user, description='test')
    token.full_clean()
    token.save()
    return token.get_auth_header_prefix() + token.token


def cli(*args):
    """Run `netbox custom_scripts` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command('custom_scripts', *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    except CommandError as exc:
        status = exc.returncode
        err.write(str(exc))
    return status, out.getvalue(), err.getvalue()


def wait_for(predicate, timeout=30, interval=0.1, message='condition'):
    """Poll `predicate` until it returns something true, and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f'Timed out after {timeout} s waiting for {message}')


def script_named(full_name):
    """The Script record of 'module.ClassName'."""
    module, class_name = full_name.rsplit('.', 1)
    return Script.objects.get(module__name=module, class_name=class_name)


def submit(script, user, data=None, commit=True, source=RunSourceChoices.API, **options):
    """A run of `script` (a Script, or its 'module.ClassName'), submitted as the API does unless `source` differs."""
    if isinstance(script, str):
        script = script_named(script)
    return submit_run(script, user=user, data=data or {}, commit=commit, source=source, **options)


def finished(run, timeout=60, interval=0.1, job_settled=False):
    """
    Wait for the run (a ScriptRun or its pk) to end and return it fresh from the database. With `job_settled`, wait
    for its core Job to end too: the run's record is finished inside the job, just before JobRunner.handle()
    terminates the Job.
    """
    pk = getattr(run, 'pk', run)

    def ended():
        run_ = ScriptRun.objects.filter(pk=pk, status__in=RunStatusChoices.TERMINAL).select_related('job').first()
        if run_ is not None and job_settled and run_.job is not None:
            if run_.job.status not in JobStatusChoices.TERMINAL_STATE_CHOICES:
                return None
        return run_

    return wait_for(ended, timeout=timeout, interval=interval,
                    message=f'run {pk}{" (and its job)" if job_settled else ""} to end')


def start_worker(*queues, log_name='test-rqworker-extra.log', env=None, append=True):
    """
    A real `netbox rqworker --skip-checks` process on the test database (and the test Redis databases), with `env`
    on top of this process's environment, in its own process group (so a test can kill it and its work-horse). It
    ends when the test run ends. Its output goes to .netbox/<log_name>.
    """
    environment = {**os.environ, **(env or {}), 'NB_DB_NAME': settings.DATABASES['default']['NAME']}
    log_path = os.path.join(REPO, '.netbox', log_name)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, 'ab' if append else 'wb')
    netbox = os.path.join(os.path.dirname(sys.executable), 'netbox')
    return subprocess.Popen(
        [netbox, 'rqworker', '--skip-checks', *queues],
        env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_die_with_the_test_run,
    )


def _die_with_the_test_run():
    # A worker left behind by a killed test run would take the next run's jobs from the same Redis database and
    # run them against the old database: have the kernel end it when pytest ends (Linux's parent-death signal).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def descendants(pid):
    """PIDs of every process below `pid` (RQ puts its work-horse in a process group of its own)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
