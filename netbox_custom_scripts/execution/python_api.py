"""
Running scripts from Python: nbshell and scripts of your own (run_script), and tests of script authors
(run_script_in_transaction).
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ..choices import RunSourceChoices, RunStatusChoices
from ..models import Script, ScriptRun
from ..scripting.meta import script_full_name, script_module_name
from .changes import build_run_request
from .errors import RunRefused
from .inputs import validate_inputs
from .outcome import finish_run
from .recorder import BufferedRecorder
from .request import ACTIVE_BRANCH, RunRequest, run_options
from .runner import run_script as execute
from .submission import submit

__all__ = (
    'run_script',
    'run_script_in_transaction',
)


def _user(user):
    if isinstance(user, str):
        try:
            return get_user_model().objects.get(username=user)
        except ObjectDoesNotExist:
            raise RunRefused(_('No user named {name!r}.').format(name=user))
    if user is None or not getattr(user, 'is_authenticated', False):
        raise RunRefused(_("Give the user to run as (user=...): runs are made with a user's permissions."))
    return user


def _script(reference):
    try:
        return Script.objects.get_by_reference(reference)
    except Script.DoesNotExist as exc:
        raise RunRefused(str(exc))


def run_script(script, data=None, *, user, commit=None, files=None, background=False, schedule_at=None,
               branch=ACTIVE_BRANCH, new_branch='', **options):
    """
    Run a script ('module.Class' or a Script record) as `user` (a User or a username), from nbshell or Python code:

        >>> run = run_script('branches.NewBranch', data={'site_name': 'ams1'}, user='alice', commit=False)
        >>> run.status, run.output, [line.message for line in run.log_entries.all()], run.changes.count()

    By default the run executes here and returns finished; with `background=True` (or `schedule_at`) it is queued
    for an RQ worker and returned pending. Permissions and input validation are the same as everywhere else, and so
    is a run without `commit`: it does what the script's Meta.commit_default says. The declared run options
    (`notifications=...`, see RunRequest) are taken as keyword arguments, as every door takes them.
    netbox-branching: `branch=` runs it inside a branch (a Branch, its name or ID; None: main; left out: the branch
    active here, if any), `new_branch='name'` stages its changes in a new branch.
    """
    unknown = sorted(set(options) - {name for name, __ in run_options()})
    if unknown:
        raise TypeError(f'run_script() got unexpected keyword argument(s) {", ".join(unknown)}')
    return submit(RunRequest(
        script=_script(script), user=_user(user), data=data or {}, files=files or {},
        commit=commit, source=RunSourceChoices.NBSHELL, schedule_at=schedule_at,
        immediate=not (background or schedule_at), branch=branch, new_branch=new_branch, **options,
    ))


def run_script_in_transaction(script_class, data=None, *, user=None, commit=True, files=None):
    """
    Run a Script class inside the caller's transaction and return its ScriptRun: for tests of script authors.
    Nothing is queued and no other connection is used, so it works in a test that rolls back at its end; with
    `commit=True` the script's changes stay visible until then. `data` is validated as any run's inputs
    (as `user`, when given; otherwise without permission checks, and changes are logged as 'script-test-runner').
    The run's log, changes and files are written when it ends.
    """
    inputs = validate_inputs(script_class, data or {}, files, user=user)
    if user is None:
        # Change logging needs a user; this one exists only in the caller's transaction.
        user, __ = get_user_model().objects.get_or_create(
            username='script-test-runner', defaults={'is_superuser': True, 'is_active': False},
        )
    run = ScriptRun.objects.create(
        script=Script.objects.filter(
            module__name=script_module_name(script_class), class_name=script_class.__name__
        ).first(),
        script_name=script_full_name(script_class),
        user=user,
        source=RunSourceChoices.TEST,
        inputs=inputs.stored,
        commit=commit,
        status=RunStatusChoices.RUNNING,
        started=timezone.now(),
    )
    recorder = BufferedRecorder(
        run.pk, max_line_length=get_plugin_config('netbox_custom_scripts', 'max_log_line_length'),
    )
    outcome = execute(run, script_class, inputs.cleaned, build_run_request(run, user), recorder)
    return finish_run(run, outcome, recorder)
