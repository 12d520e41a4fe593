"""
Starting one run: the checks every start passes (permission, inputs, timing, Meta, policy), the run record, and
its job. submit() (submission.py) is the front door; schedules and approvals start their runs here.
"""
import datetime
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock

from ..choices import RunSourceChoices, RunStatusChoices
from ..cron import cron_errors, interval_errors
from ..models import Script, ScriptRun
from ..scripting.definition import check_run_options
from ..scripting.meta import script_options, secret_variable_names
from ..scripting.script import report_test_names
from ..scripting.variables import FileVar
from .branches import check_branch, current_branch, find_branch, inside, new_branch, save_new_branch
from .changes import change_logging
from .errors import InputError, RunRefused
from .health import companion_tests
from .inputs import SECRET_MASK, ValidatedInputs, validate_inputs
from .loader import get_script_class
from .policy import RunPlan, apply_policy
from .queueing import enqueue_run
from .request import ACTIVE_BRANCH, resolve_commit

__all__ = (
    'as_repeat',
    'cancel_run',
    'check_run_permission',
    'check_schedule',
    'prepare',
    'record_refused_run',
    'start_run',
)


RELATED_FIELDS = ('script', 'revision', 'user', 'rerun_of', 'schedule', 'approval_of', 'job', 'reviewed_by')


def check_run_permission(script, user):
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied(_('Runs need an active user.'))
    if user.is_superuser:
        return  # restrict() would not filter: the query could only say that the script exists
    if not Script.objects.restrict(user, 'run').filter(pk=script.pk).exists():
        raise PermissionDenied(_('{user} may not run the script {script}.').format(user=user, script=script.full_name))


def check_schedule(script_class, schedule_at, interval, cron, secrets, recurring=False, at_field='schedule_at'):
    """
    Scheduling rules: allowed by the script, no secrets, a future time (a schedule may have started already).
    Errors name the time `at_field`: the run endpoints call it schedule_at, schedules start_at.
    """
    errors = {}
    if schedule_at or interval or cron:
        if not script_options(script_class).scheduling_enabled:
            raise InputError({at_field: [_('Scheduling is disabled for this script.')]})
        if secrets:
            raise InputError({'cron' if cron else 'interval' if interval else at_field: [
                _('A run with secret inputs cannot be scheduled: secret values are never stored.')
            ]})
    if schedule_at is not None:
        if not isinstance(schedule_at, datetime.datetime):
            errors[at_field] = [_('Must be a date and time.')]
        elif schedule_at < timezone.now() and not recurring:
            errors[at_field] = [_('Scheduled time must be in the future.')]
    if interval is not None and (problems := interval_errors(interval)):
        errors['interval'] = problems
    if cron:
        if problems := cron_errors(cron):
            errors['cron'] = problems
        elif interval:
            errors['cron'] = [_('Set an interval or a cron expression, not both.')]
    if errors:
        raise InputError(errors)


def _check_approval_request(script_class, inputs, request):
    """A run that waits for approval must be carried out later from its stored inputs alone."""
    if request.timed:
        raise InputError({'cron' if request.cron else 'interval' if request.interval else 'schedule_at': [
            _('Committed runs of this script need approval; submit it now and it runs once approved.')
        ]})
    unstored = sorted(set(inputs.secrets) | set(request.files or {}))
    if unstored:
        message = _('Committed runs of this script need approval, and secret or file inputs are never stored, so '
                    'they cannot wait for it. Run it as a dry run, or ask for the permission to commit.')
        raise InputError({name: [message] for name in unstored})


@dataclass
class PreparedRun:
    """A request that passed every check: what its run record and job are made from."""
    script_class: type
    inputs: ValidatedInputs
    commit: bool
    notifications: str
    plan: RunPlan
    branch: object = None   # the netbox-branching Branch it executes in (None: main)
    staged: bool = False    # `branch` is new (not saved yet): the run provisions it and commits there


def run_branch(request):
    """
    (branch, staged): where the run of `request` executes. A health check runs in main: its tests are rolled back
    in main's transaction, which a branch's connection is not part of.
    """
    if request.new_branch:
        if request.health_check:
            raise InputError({'new_branch': [_("A run of the script's tests cannot stage changes in a branch.")]})
        return new_branch(request.new_branch, request.user), True
    if request.branch is ACTIVE_BRANCH:
        branch = None if request.health_check else current_branch()
    else:
        branch = find_branch(request.branch)
    if branch is not None and request.health_check:
        raise InputError({'branch': [_("A run of the script's tests executes in main, not in a branch.")]})
    check_branch(branch, request.user)
    return branch, False


def prepare(request):
    """
    Check `request` as its user: permission, the script still exists, its inputs, its timing, its Meta, the run
    policy. Raises PermissionDenied, InputError (per field) or RunRefused; nothing is written.
    """
    # Event-rule runs too: they are made as the rule's owner (see event_rules.py), whose rights are checked now.
    script = request.script
    check_run_permission(script, request.user)
    if not script.is_active:
        raise RunRefused(_('Script {name} no longer exists in its module.').format(name=script.full_name))
    script_class = get_script_class(script)
    branch, staged = run_branch(request)
    if request.health_check:
        if not report_test_names(script_class) and not companion_tests(script):
            raise RunRefused(_('{name} has no tests (test_* methods) to run.').format(name=script.full_name))
        inputs = ValidatedInputs(cleaned={}, stored={})
    else:
        # Objects the inputs name are looked up where the run executes (a new branch starts as a copy of main).
        with inside(None if staged else branch):
            inputs = validate_inputs(script_class, request.data, request.files, user=request.user)
    check_schedule(script_class, request.schedule_at, request.interval, request.cron, inputs.secrets)
    # Options through script_options(): a variable may be named `commit_default` or `singleton`, as on NetBox.
    options = script_options(script_class)
    try:
        # As NetBox refuses to queue it: a Meta.job_timeout it cannot use, an unknown notifications_default.
        check_run_options(script_class, notifications=request.notifications or None)
    except ValidationError as exc:
        raise RunRefused(_('{name} cannot run until its Meta is fixed: {problems}').format(
            name=script.full_name, problems=' '.join(exc.messages)
        ))
    commit = False if request.health_check else resolve_commit(request.commit, options.commit_default)
    if staged:
        commit = True  # committed inside its new branch; main sees nothing until the branch is merged
    plan = apply_policy(
        script, script_class, user=request.user, source=request.source, commit=commit, queue=request.queue or None,
        # A health check never writes: no policy to apply.
        approved=request.approval_of is not None or request.health_check,
    )
    if plan.approval and staged:
        raise RunRefused(_(
            'Committed runs of {name} need approval, so they cannot stage changes in a new branch: request approval '
            'of a run in main, or in an existing branch.'
        ).format(name=script.full_name))
    if plan.approval:
        _check_approval_request(script_class, inputs, request)
    return PreparedRun(script_class, inputs, commit, request.notifications or options.notifications_default, plan,
                       branch=branch, staged=staged)


def start_run(request, prepared=None):
    """
    Start one run (not a schedule: see submit()). Returns the new ScriptRun - pending, scheduled for
    `request.schedule_at`, or (immediate) already finished. `request.on_created(run)` is called once the run record
    is committed, before an immediate run executes (the CLI follows its log from there). A committed run that its
    policy says needs approval is recorded as a dry run that requests approval (see approvals.py).
    """
    prepared = prepared or prepare(request)
    if request.immediate and transaction.get_connection().in_atomic_block:
        raise RunRefused(_('A run cannot execute in this process inside an open transaction; queue it instead.'))
    script = request.script
    singleton = script_options(prepared.script_class).singleton and not request.schedule_at
    # The lock spans the commit, so two submissions cannot both pass the singleton check; other runs need none.
    lock = advisory_lock(f'netbox_custom_scripts.script-{script.pk}') if singleton else nullcontext()
    with lock, transaction.atomic():
        if singleton:
            _check_singleton(script)
        run = _run_record(request, prepared)
        if not request.immediate:
            enqueue_run(run, request, prepared.inputs, prepared.script_class)
    if request.on_created is not None:
        request.on_created(run)
    if request.immediate:
        # Runs in this process, after the run record is committed (its log is written from another connection).
        enqueue_run(run, request, prepared.inputs, prepared.script_class, immediate=True)
        run.refresh_from_db()
    return run


def _check_singleton(script):
    busy = ScriptRun.objects.filter(
        script=script, status__in=(RunStatusChoices.PENDING, RunStatusChoices.RUNNING)
    ).order_by('pk').first()
    if busy:
        raise RunRefused(_(
            '{name} is a singleton script and run #{run} is still {status}; wait for it to finish or cancel it.'
        ).format(name=script.name, run=busy.pk, status=busy.get_status_display().lower()))


def _run_record(request, prepared):
    script, plan, branch = request.script, prepared.plan, prepared.branch
    if prepared.staged:
        with change_logging(request.user):
            save_new_branch(branch)
    run = ScriptRun(
        script=script,
        script_name=script.full_name,
        revision=script.module.current_revision,
        content_hash=script.module.content_hash,
        user=request.user,
        source=request.source,
        inputs=prepared.inputs.stored,
        # What the run does: a committed run that needs approval runs dry first (the intent is approval_requested).
        commit=prepared.commit and not plan.approval,
        approval_requested=plan.approval,
        health_check=request.health_check,
        approval_of=request.approval_of,
        queue=plan.queue,
        job_timeout=plan.job_timeout,
        notifications=prepared.notifications,
        status=RunStatusChoices.SCHEDULED if request.schedule_at else RunStatusChoices.PENDING,
        scheduled_at=request.schedule_at,
        rerun_of=request.rerun_of or request.approval_of,
        schedule=request.schedule,
        event=request.event,
        branch_id=branch.pk if branch is not None else None,
        branch_name=branch.name if branch is not None else '',
        branch_staged=prepared.staged,
    )
    # The related objects were just loaded or checked here, and the database enforces the constraints: skip a
    # query per foreign key, unique field and constraint.
    run.full_clean(exclude=RELATED_FIELDS, validate_unique=False, validate_constraints=False)
    with change_logging(request.user):
        run.save()
    return run


def _masked_inputs(script, inputs):
    """Inputs as a refused run records them: the values of the script's secret variables masked."""
    secret = {variable['name'] for variable in script.variables or () if variable.get('secret')}
    return {
        str(name): SECRET_MASK if name in secret and value not in (None, '') else value
        for name, value in (inputs or {}).items()
    }


def record_refused_run(script, *, user, source, reason, event=None, inputs=None):
    """
    Record a run that was not started - its user lacked the rights, a policy refused it - so that a refusal nobody
    was there to see (an event rule's, a schedule's) is visible in the run history. Nothing is queued or run.
    """
    now = timezone.now()
    module = script.module
    run = ScriptRun(
        script=script, script_name=script.full_name, revision_id=module.current_revision_id,
        content_hash=module.content_hash, user=user, source=source, inputs=_masked_inputs(script, inputs),
        commit=False, status=RunStatusChoices.REFUSED, completed=now, error=str(reason)[:10000], event=event,
        queue='',
    )
    with change_logging(user):
        run.save()
    return run


def as_repeat(request):
    """
    The request to run `request.rerun_of` again: its stored inputs, with the secret and file inputs (never stored)
    and any changes from `request.data`/`request.files`; its commit and notifications unless the request says
    (`commit=True` on a dry run applies it: a re-run repeats what the earlier run did, so that is what "not given"
    means here); its queue. A re-run of a health check is a health check.
    """
    run = request.rerun_of
    if run.script is None:
        raise RunRefused(_('The script of run #{run} no longer exists.').format(run=run.pk))
    if run.source == RunSourceChoices.IMPORTED:
        raise RunRefused(_(
            'Run #{run} was imported from built-in scripts, which keep no inputs of finished jobs: start a new run '
            'instead.').format(run=run.pk))
    if request.branch is ACTIVE_BRANCH and not request.new_branch:
        # A re-run executes where the earlier run did (its branch, or main), whichever branch is active now.
        request = request.but(branch=run.branch_id)
    if run.health_check:
        if request.commit:
            raise RunRefused(_("Run #{run} ran the script's tests; there is nothing to apply.").format(run=run.pk))
        return request.but(script=run.script, health_check=True, data={}, files={}, commit=None)
    script_class = get_script_class(run.script)
    secret_names = secret_variable_names(script_class)
    inputs = {name: value for name, value in run.inputs.items() if name not in secret_names}
    missing_files = [
        name for name, var in script_class._get_vars().items()
        if isinstance(var, FileVar) and run.inputs.get(name) and not (request.files or {}).get(name)
    ]
    if missing_files:
        message = _('Upload the file again: files are not kept after a run.')
        raise InputError({name: [message] for name in missing_files})
    inputs.update(request.data or {})
    return request.but(
        script=run.script, data=inputs,
        commit=run.commit or run.approval_requested if request.commit is None else request.commit,
        notifications=request.notifications or run.notifications, queue=run.queue,
    )


def cancel_run(run, user):
    """
    Cancel a run: a queued or scheduled one never starts; a running one is interrupted within seconds and rolls
    back. Returns the run. Raises RunRefused when it has already finished.
    """
    if run.status in RunStatusChoices.TERMINAL:
        raise RunRefused(_('Run #{run} has already finished ({status}).').format(
            run=run.pk, status=run.get_status_display().lower()
        ))
    now = timezone.now()
    if run.status == RunStatusChoices.AWAITING_APPROVAL:
        # Withdrawing a request: its dry run has finished, so there is no job to stop.
        ScriptRun.objects.filter(pk=run.pk, status=RunStatusChoices.AWAITING_APPROVAL).update(
            status=RunStatusChoices.CANCELLED, cancel_requested=now,
            error=_('Withdrawn by {user} before it was reviewed.').format(user=user),
        )
        run.refresh_from_db()
        return run
    ScriptRun.objects.filter(pk=run.pk).update(cancel_requested=now)
    if run.status in RunStatusChoices.WAITING:
        updated = ScriptRun.objects.filter(pk=run.pk, status__in=RunStatusChoices.WAITING).update(
            status=RunStatusChoices.CANCELLED, completed=now,
            error=_('Cancelled by {user} before it started.').format(user=user) if user else _(
                'Cancelled before it started.'
            ),
        )
        if updated and run.job_id:
            from core.models import Job

            job = Job.objects.filter(pk=run.job_id).first()
            if job is not None:
                job.delete()  # removes the queued RQ job too
    run.refresh_from_db()
    return run
