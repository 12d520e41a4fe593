"""
Starting runs. Every run - from the web form, the REST API, the CLI, nbshell, a schedule, an event rule or a
re-run - goes through submit_run(): permission check, input validation, the run record, then a NetBox job on RQ.
This is the only module that enqueues jobs; adapters call these functions and never a JobRunner directly.
"""
import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock

from ..choices import RunSourceChoices, RunStatusChoices
from ..jobs import ActivateRevisionJob, RunScriptJob, SyncModulesJob
from ..models import Script, ScriptRun
from ..scripting.script import check_run_options, report_test_names, script_options, secret_variable_names
from .audit import change_logging
from .cron import cron_errors, interval_errors
from .errors import RunRefused
from .inputs import SECRET_MASK, InputError, ValidatedInputs, validate_inputs
from .loader import get_script_class
from .modules import plugin_settings
from .policy import apply_policy
from .runner import capture_request, companion_tests
from .secrets import seal

__all__ = (
    'RunRefused',
    'cancel_run',
    'enqueue_directory_sync',
    'enqueue_revision_activation',
    'get_script_class',
    'rerun',
    'check_run_permission',
    'check_schedule',
    'record_refused_run',
    'submit_run',
)


RELATED_FIELDS = ('script', 'revision', 'user', 'rerun_of', 'schedule', 'approval_of', 'job', 'reviewed_by')


def identity_only(user):
    """A stand-in for `user` that carries its ID and name and nothing else (no password hash), for queued jobs."""
    if user is None or not getattr(user, 'pk', None):
        return None
    return get_user_model()(pk=user.pk, username=user.username)


def enqueue_directory_sync(user):
    """Queue a SyncModulesJob. Returns the core Job, or None when no scripts directory is configured."""
    if not plugin_settings()['scripts_dir']:
        return None
    return SyncModulesJob.enqueue(user=identity_only(user), queue_name=plugin_settings()['default_queue'])


def enqueue_revision_activation(module, user, number):
    """
    Queue the activation of revision `number` - the module's pending revision, as the user saw it - on a worker
    (where it is imported for the first time). Raises PermissionDenied unless `user` may change the module, and
    RunRefused when that revision is not (or no longer) the pending one: newer code must be reviewed first.
    """
    from .sources import may_change

    if not may_change(module, user):
        raise PermissionDenied(_('{user} has no permission to change the script module {name}.').format(
            user=user, name=module.name
        ))
    pending = module.pending_revision
    if pending is None:
        raise RunRefused(_('Module {name} has no pending revision.').format(name=module.name))
    if pending.number != number:
        raise RunRefused(_(
            'The pending revision of module {name} is r{pending}, not r{number}: review it before activating it.'
        ).format(name=module.name, pending=pending.number, number=number))
    return ActivateRevisionJob.enqueue(
        name=f'Activate revision r{pending.number} of module {module.name}'[:200],
        user=identity_only(user), queue_name=plugin_settings()['default_queue'], module_id=module.pk,
        revision_id=pending.pk,
    )


def check_run_permission(script, user):
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied(_('Runs need an active user.'))
    if not Script.objects.restrict(user, 'run').filter(pk=script.pk).exists():
        raise PermissionDenied(_('{user} may not run the script {script}.').format(user=user, script=script.full_name))


def check_schedule(script_class, schedule_at, interval, cron, secrets, recurring=False):
    """Scheduling rules: allowed by the script, no secrets, a future time (a schedule may have started already)."""
    errors = {}
    if schedule_at or interval or cron:
        if not script_options(script_class).scheduling_enabled:
            raise InputError({'schedule_at': [_('Scheduling is disabled for this script.')]})
        if secrets:
            raise InputError({'cron' if cron else 'interval' if interval else 'schedule_at': [
                _('A run with secret inputs cannot be scheduled: secret values are never stored.')
            ]})
    if schedule_at is not None:
        if not isinstance(schedule_at, datetime.datetime):
            errors['schedule_at'] = [_('Must be a date and time.')]
        elif schedule_at < timezone.now() and not recurring:
            errors['schedule_at'] = [_('Scheduled time must be in the future.')]
    if interval is not None and (problems := interval_errors(interval)):
        errors['interval'] = problems
    if cron:
        if problems := cron_errors(cron):
            errors['cron'] = problems
        elif interval:
            errors['cron'] = [_('Set an interval or a cron expression, not both.')]
    if errors:
        raise InputError(errors)


def _check_approval_request(script_class, inputs, files, schedule_at, interval, cron):
    """A run that waits for approval must be carried out later from its stored inputs alone."""
    if schedule_at or interval or cron:
        raise InputError({'cron' if cron else 'interval' if interval else 'schedule_at': [
            _('Committed runs of this script need approval; submit it now and it runs once approved.')
        ]})
    unstored = sorted(set(inputs.secrets) | set(files or {}))
    if unstored:
        message = _('Committed runs of this script need approval, and secret or file inputs are never stored, so '
                    'they cannot wait for it. Run it as a dry run, or ask for the permission to commit.')
        raise InputError({name: [message] for name in unstored})


def submit_run(script, *, user, data=None, files=None, commit=None, source, http_request=None, schedule_at=None,
               interval=None, cron=None, notifications=None, rerun_of=None, immediate=False, schedule=None,
               on_created=None, event=None, queue=None, approval_of=None, health_check=False):
    """
    Start a run of `script` as `user`. Returns the new ScriptRun (pending, scheduled, or - with `immediate` - already
    finished). Raises PermissionDenied, InputError (per-variable messages) or RunRefused; nothing is written then.
    With `interval` or `cron`, a Schedule is created and its first run returned. `on_created(run)` is called once
    the run record is committed, before an immediate run executes (the CLI follows its log from there).
    A committed run that its policy says needs approval is recorded as a dry run that requests approval
    (see approvals.py); `approval_of` is the approved request whose committed run this is. A `health_check` run
    executes the script's own test_* methods in a transaction that is always rolled back.
    """
    # Event-rule runs too: they are made as the rule's owner (see event_rules.py), whose rights are checked now.
    check_run_permission(script, user)
    if not script.is_active:
        raise RunRefused(_('Script {name} no longer exists in its module.').format(name=script.full_name))
    script_class = get_script_class(script)
    if health_check:
        if not report_test_names(script_class) and not companion_tests(script):
            raise RunRefused(_('{name} has no tests (test_* methods) to run.').format(name=script.full_name))
        inputs, commit = ValidatedInputs(cleaned={}, stored={}), False
    else:
        inputs = validate_inputs(script_class, data, files, user=user)
    check_schedule(script_class, schedule_at, interval, cron, inputs.secrets)
    # Options through script_options(): a variable may be named `commit_default` or `singleton`, as on NetBox.
    options = script_options(script_class)
    try:
        # As NetBox refuses to queue it: a Meta.job_timeout it cannot use, an unknown notifications_default.
        check_run_options(script_class, notifications=notifications or None)
    except ValidationError as exc:
        raise RunRefused(_('{name} cannot run until its Meta is fixed: {problems}').format(
            name=script.full_name, problems=' '.join(exc.messages)
        ))
    commit = options.commit_default if commit is None else bool(commit)
    notifications = notifications or options.notifications_default
    plan = apply_policy(
        script, script_class, user=user, source=source, commit=commit, queue=queue,
        approved=approval_of is not None or health_check,  # a health check never writes: no policy to apply
    )
    if plan.approval:
        _check_approval_request(script_class, inputs, files, schedule_at, interval, cron)

    if interval or cron:
        from .schedules import create_schedule  # schedules are built on this module

        schedule = create_schedule(
            script, user=user, inputs=data or {}, commit=commit, start_at=schedule_at, interval=interval, cron=cron,
            notifications=notifications, health_check=health_check,
        )
        return schedule.runs.order_by('-pk').first()

    if immediate and transaction.get_connection().in_atomic_block:
        raise RunRefused(_('A run cannot execute in this process inside an open transaction; queue it instead.'))
    # The lock spans the commit, so two submissions cannot both pass the singleton check.
    with advisory_lock(f'netbox_custom_scripts.script-{script.pk}'), transaction.atomic():
        if options.singleton and not schedule_at:
            busy = ScriptRun.objects.filter(
                script=script, status__in=(RunStatusChoices.PENDING, RunStatusChoices.RUNNING)
            ).order_by('pk').first()
            if busy:
                raise RunRefused(_(
                    '{name} is a singleton script and run #{run} is still {status}; wait for it to finish or cancel it.'
                ).format(name=script.name, run=busy.pk, status=busy.get_status_display().lower()))
        run = ScriptRun(
            script=script,
            script_name=script.full_name,
            revision=script.module.current_revision,
            content_hash=script.module.content_hash,
            user=user,
            source=source,
            inputs=inputs.stored,
            commit=commit and not plan.approval,
            approval_requested=plan.approval,
            health_check=health_check,
            approval_of=approval_of,
            queue=plan.queue,
            job_timeout=plan.job_timeout,
            notifications=notifications,
            status=RunStatusChoices.SCHEDULED if schedule_at else RunStatusChoices.PENDING,
            scheduled_at=schedule_at,
            rerun_of=rerun_of or approval_of,
            schedule=schedule,
            event=event,
        )
        # The related objects were just loaded or checked here, and the database enforces the constraints: skip a
        # query per foreign key, unique field and constraint.
        run.full_clean(exclude=RELATED_FIELDS, validate_unique=False, validate_constraints=False)
        with change_logging(user):
            run.save()
        if not immediate:
            _enqueue(run, script, user, inputs.secrets, files, http_request, script_class, schedule_at, False)
    if on_created is not None:
        on_created(run)
    if immediate:
        # Runs in this process, after the run record is committed (its log is written from another connection).
        _enqueue(run, script, user, inputs.secrets, files, http_request, script_class, None, True)
        run.refresh_from_db()
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


def _enqueue(run, script, user, secrets, files, http_request, script_class, schedule_at, immediate):
    secret_fields = tuple(secret_variable_names(script_class))
    file_payload = [
        (name, upload.name, upload.read(), getattr(upload, 'content_type', None))
        for name, upload in (files or {}).items()
    ]
    kwargs = dict(
        # Identities only: RQ pickles the core Job with the objects it was given (a User with its password hash, a
        # Script with its module's source) into Redis, which keeps failed jobs for a year.
        instance=script if immediate else Script(pk=script.pk),
        name=f'Run {script.full_name}'[:200],
        user=user if immediate else identity_only(user),
        schedule_at=schedule_at,
        queue_name=run.queue,
        notifications=run.notifications,
        run_id=run.pk,
        sealed_secrets=seal(secrets),
        files=file_payload,
        request=capture_request(http_request, secret_fields),
    )
    if run.job_timeout:
        kwargs['job_timeout'] = run.job_timeout
    if immediate:
        # Job.enqueue() runs an immediate job before it returns, so the run record learns its job first.
        kwargs['schedule_at'] = None
        RunScriptJob.enqueue(immediate=True, **kwargs)
        return
    job = RunScriptJob.enqueue(**kwargs)
    ScriptRun.objects.filter(pk=run.pk).update(job=job)
    run.job = job


def rerun(run, *, user, source, commit=None, data=None, files=None, http_request=None, immediate=False,
          on_created=None):
    """
    Run a script again with the inputs of an earlier run. Secret and file inputs are not stored, so they must be
    given again in `data`/`files`. `commit=True` on a dry run applies it.
    """
    if run.script is None:
        raise RunRefused(_('The script of run #{run} no longer exists.').format(run=run.pk))
    if run.source == RunSourceChoices.IMPORTED:
        raise RunRefused(_(
            'Run #{run} was imported from built-in scripts, which keep no inputs of finished jobs: start a new run '
            'instead.').format(run=run.pk))
    if run.health_check:
        if commit:
            raise RunRefused(_("Run #{run} ran the script's tests; there is nothing to apply.").format(run=run.pk))
        return submit_run(run.script, user=user, source=source, http_request=http_request, immediate=immediate,
                          on_created=on_created, rerun_of=run, health_check=True)
    script_class = get_script_class(run.script)
    secret_names = secret_variable_names(script_class)
    inputs = {name: value for name, value in run.inputs.items() if name not in secret_names}
    missing_files = [
        name for name, var in script_class._get_vars().items()
        if type(var).__name__ == 'FileVar' and run.inputs.get(name) and not (files or {}).get(name)
    ]
    if missing_files:
        message = _('Upload the file again: files are not kept after a run.')
        raise InputError({name: [message] for name in missing_files})
    inputs.update(data or {})
    if commit is None:
        commit = run.commit or run.approval_requested
    return submit_run(
        run.script, user=user, data=inputs, files=files, source=source, http_request=http_request, commit=commit,
        notifications=run.notifications, rerun_of=run, immediate=immediate, queue=run.queue, on_created=on_created,
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
