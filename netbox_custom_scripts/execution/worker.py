"""
The worker side: the core's RQ jobs (a run, a directory sync, a revision activation) and what a queued run does
when a worker takes it. jobs.py re-exports the job classes under their old path, for jobs queued before an upgrade.
"""
import logging
import traceback

from core.choices import JobStatusChoices
from core.exceptions import JobFailed
from core.models import Job
from core.signals import job_start
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.jobs import JobRunner
from netbox.plugins import get_plugin_config

from ..choices import LogLevelChoices, RunSourceChoices, RunStatusChoices
from ..models import ScriptModule, ScriptRun
from ..scripting.meta import script_options, secret_variable_names
from .branches import connection_aliases, hold, inside, provision, run_branch
from .changes import build_run_request
from .errors import InputError, RunRefused
from .health import run_health_check
from .inputs import validate_inputs
from .interrupts import RunStopper, enforced_time_limit, hard_stop_exit
from .loader import get_script_class
from .outcome import RunOutcome, finish_run, log_line
from .recorder import LiveRecorder
from .runner import run_script
from .secrets import unseal
from .sources.data_file import activate_pending_revision
from .sources.directory import sync_directory
from .watchdog import reap_stale_runs

__all__ = (
    'ActivateRevisionJob',
    'execute_queued_run',
    'RunScriptJob',
    'ScriptRunErrored',
    'set_in_process_hard_stop',
    'SyncModulesJob',
)

logger = logging.getLogger('netbox_custom_scripts.worker')


def _run_request(run, request):
    """`self.request` of a queued run: rebuilt from what capture_request() kept (jobs queued by earlier releases
    carry a ready-made request)."""
    if request is None or isinstance(request, dict):
        return build_run_request(run, run.user, request)
    return request


def execute_queued_run(run_id, job, *, sealed_secrets=None, files=None, request=None, time_limit=None,
                       enforce_time_limit=False, exit_process=None, cleaned_inputs=None):
    """
    The worker side of a run: start it (unless it was cancelled or its singleton script is busy), re-validate its
    inputs against the revision it was dispatched with, run it, and record the outcome. Returns the finished run,
    or None when there was nothing to run. `time_limit` is the run's limit in seconds (RQ enforces it in a
    work-horse; `enforce_time_limit` enforces it here); `exit_process` ends this process after a hard stop.
    `cleaned_inputs`: the inputs as submit() validated them, for a run executing in the submitting process right
    away (objects and permissions cannot have changed): they are not validated again.
    """
    run = ScriptRun.objects.select_related('script__module', 'revision__module', 'user').filter(pk=run_id).first()
    if run is None:
        logger.info('Run %s no longer exists; nothing to do', run_id)
        return None
    now = timezone.now()
    if run.source == RunSourceChoices.SCHEDULE and run.schedule_id is None:
        ScriptRun.objects.filter(pk=run.pk, status__in=RunStatusChoices.WAITING).update(
            status=RunStatusChoices.CANCELLED, completed=now, error=_('Its schedule was deleted.'),
        )
        return None
    started = ScriptRun.objects.filter(
        pk=run.pk, status__in=RunStatusChoices.WAITING, cancel_requested__isnull=True
    ).update(status=RunStatusChoices.RUNNING, started=now, heartbeat=now, job=job)
    if not started:
        logger.info('Run %s is %s; not starting it', run.pk, run.status)
        return None
    run.status, run.started, run.heartbeat, run.job = RunStatusChoices.RUNNING, now, now, job

    recorder = LiveRecorder(
        run.pk,
        max_file_size=get_plugin_config('netbox_custom_scripts', 'max_file_size'),
        max_line_length=get_plugin_config('netbox_custom_scripts', 'max_log_line_length'),
        on_tick=lambda: reap_stale_runs(ScriptRun.objects.exclude(pk=run.pk)),
    )
    stopper = recorder.stopper = RunStopper(
        run, recorder, timeout=time_limit, grace=get_plugin_config('netbox_custom_scripts', 'stop_grace_period'),
        exit_process=exit_process,
    )
    recorder.start()
    timeout = time_limit if enforce_time_limit else None
    try:
        if run.script is None:
            raise RunRefused(_('The script of this run no longer exists.'))
        if run.script.module.current_revision_id != run.revision_id:
            logger.info('Run %s executes revision %s, which is no longer current', run.pk, run.revision_id)
        script_class = get_script_class(run.script, run.revision)
        if script_options(script_class).singleton:
            busy = ScriptRun.objects.filter(script=run.script, status=RunStatusChoices.RUNNING).exclude(pk=run.pk)
            if busy.exists():
                raise RunRefused(_('Another run of this singleton script (#{run}) is running.').format(
                    run=busy.first().pk
                ))
        if run.health_check:
            with enforced_time_limit(timeout):
                outcome = run_health_check(run, script_class, _run_request(run, request), recorder, stopper)
            return finish_run(run, outcome, recorder)
        branch = run_branch(run)
        if run.branch_staged and branch.status == 'new':
            log_line(recorder, LogLevelChoices.INFO, _('Provisioning branch {branch}').format(branch=branch.name))
            provision(branch, run.user)
        with inside(branch):
            data = cleaned_inputs if cleaned_inputs is not None else _revalidated(
                run, script_class, sealed_secrets, files)
            http_request = _run_request(run, request)
            with enforced_time_limit(timeout):
                outcome = run_script(run, script_class, data, http_request, recorder, stopper,
                                     databases=connection_aliases(branch),
                                     hold=(lambda: hold(branch)) if branch is not None else None)
        if branch is not None and outcome.status == RunStatusChoices.COMPLETED:
            log_line(recorder, LogLevelChoices.INFO, (
                _('Changes committed in branch {branch}: review and merge them there.') if run.commit else
                _('Dry run in branch {branch}.')).format(branch=branch.name))
        if run.approval_requested and outcome.status == RunStatusChoices.COMPLETED:
            log_line(recorder, LogLevelChoices.INFO,
                     _('The changes above wait for approval; nothing was committed yet.'))
            outcome.status = RunStatusChoices.AWAITING_APPROVAL
        elif run.approval_requested:
            log_line(recorder, LogLevelChoices.WARNING,
                     _('The dry run did not complete cleanly; it is not submitted for approval.'))
    except RunRefused as exc:
        # Not started (a busy singleton, a script that is gone, inputs no longer valid): a refusal, not a crash.
        log_line(recorder, LogLevelChoices.WARNING, str(exc))
        outcome = RunOutcome(RunStatusChoices.REFUSED, error=str(exc))
    except Exception as exc:  # anything failing around the script (loading it, say) still ends the run truthfully
        logger.exception('Run %s could not be executed', run.pk)
        log_line(recorder, LogLevelChoices.FAILURE, f'{type(exc).__name__}: {exc}')
        outcome = RunOutcome(RunStatusChoices.ERRORED, error=f'{type(exc).__name__}: {exc}',
                             traceback=traceback.format_exc())
    return finish_run(run, outcome, recorder)


def _revalidated(run, script_class, sealed_secrets, files):
    """A queued run's inputs, validated again as the run's user: objects and permissions may have changed."""
    secret_names = secret_variable_names(script_class)
    raw = {name: value for name, value in run.inputs.items() if name not in secret_names}
    raw.update(unseal(sealed_secrets))
    try:
        return validate_inputs(script_class, raw, _uploaded_files(files), user=run.user, strict=False).cleaned
    except InputError as exc:
        messages = '; '.join(f'{name}: {" ".join(errors)}' for name, errors in exc.message_dict.items())
        raise RunRefused(_('The inputs are no longer valid: {errors}').format(errors=messages))


def _uploaded_files(files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {
        name: SimpleUploadedFile(filename, content, content_type or 'application/octet-stream')
        for name, filename, content, content_type in (files or [])
    }


class ScriptRunErrored(Exception):
    """Makes the core Job "errored" when its run errored or timed out."""


class RunScriptJob(JobRunner):
    """Execute one ScriptRun. Its status maps onto the core Job: completed; failed (failures logged, aborted,
    cancelled); errored (exception, timeout)."""

    class Meta:
        name = 'Run custom script'

    @classmethod
    def handle(cls, job, *args, **kwargs):
        # RQ can deliver a job again after it ran (a Redis restored from an older snapshot), carrying the Job as it
        # was queued: JobRunner.handle() would restart and re-terminate it. Only a Job still waiting is run. One
        # conditional UPDATE both checks that and starts it (what Job.start() does with a full save, then its
        # signal); JobRunner.handle() then leaves the started Job's start alone.
        now = timezone.now()
        started = Job.objects.filter(
            pk=job.pk, status__in=(JobStatusChoices.STATUS_PENDING, JobStatusChoices.STATUS_SCHEDULED)
        ).update(status=JobStatusChoices.STATUS_RUNNING, started=now)
        if not started:
            logger.warning('Job %s was delivered again after it started; leaving it as it is', job.pk)
            return
        job.status, job.started = JobStatusChoices.STATUS_RUNNING, now
        job_start.send(job)
        super().handle(job, *args, **kwargs)

    def run(self, run_id, sealed_secrets=None, files=None, request=None, job_timeout=None, cleaned_inputs=None,
            **kwargs):
        rq_job = _current_rq_job(self.job)
        run = execute_queued_run(
            run_id, self.job, sealed_secrets=sealed_secrets, files=files, request=request,
            # Only a run executing here right after its submission has them (never through RQ).
            cleaned_inputs=cleaned_inputs if rq_job is None else None,
            # RQ enforces the limit in a work-horse; a run executing in this process (CLI, nbshell) needs its own.
            time_limit=rq_job.timeout if rq_job is not None else job_timeout,
            enforce_time_limit=rq_job is None,
            # A script that will not stop is stopped hard; a work-horse then exits, freeing its worker.
            exit_process=hard_stop_exit(1) if rq_job is not None else in_process_hard_stop_exit,
        )
        if run is None:
            self.job.data = {'run': run_id, 'status': 'not started'}
            return
        self.job.data = {'run': run.pk, 'status': run.status}
        if run.status in (RunStatusChoices.ERRORED, RunStatusChoices.TIMED_OUT):
            if run.traceback:
                self.logger.error(run.traceback)
            raise ScriptRunErrored(run.error)
        if run.status not in (RunStatusChoices.COMPLETED, RunStatusChoices.AWAITING_APPROVAL):
            self.job.error = run.error or run.get_status_display()
            raise JobFailed()


def _current_rq_job(job):
    """The RQ job executing `job` in this work-horse, or None when it runs in this process (CLI, nbshell)."""
    from rq import get_current_job

    current = get_current_job()
    return current if current is not None and current.id == str(job.job_id) else None


# Set by a process that runs scripts itself and may end when one will not stop (the CLI); None elsewhere (nbshell).
in_process_hard_stop_exit = None


def set_in_process_hard_stop(exit_process):
    """What ends this process when a run it executes itself will not stop (see RunStopper); None: nothing."""
    global in_process_hard_stop_exit
    in_process_hard_stop_exit = exit_process


class SyncModulesJob(JobRunner):
    """Re-read the scripts directory and register what changed (the "Sync" button and API action)."""

    class Meta:
        name = 'Sync custom script modules'

    def run(self, *args, **kwargs):
        result = sync_directory(user=self.job.user, force=True)
        if result is None:
            self.logger.warning('No scripts directory is configured (setting scripts_dir); nothing to sync.')
            self.job.data = {'configured': False}
            return
        for kind in ('created', 'updated', 'missing'):
            for name in getattr(result, kind):
                self.logger.info('%s: %s', kind, name)
        for name, error in result.errors.items():
            self.logger.warning('%s: %s', name, error)
        self.job.data = {
            'configured': True,
            'created': result.created,
            'updated': result.updated,
            'missing': result.missing,
            'errors': result.errors,
        }


class ActivateRevisionJob(JobRunner):
    """Import a module's pending revision from its data source and make it current (the "Activate" button)."""

    class Meta:
        name = 'Activate custom script module revision'

    def run(self, module_id, revision_id=None, *args, **kwargs):
        from django.contrib.auth import get_user_model

        # The job carries the user's identity only; their permissions are read from the database here.
        user = get_user_model().objects.filter(pk=self.job.user_id, is_active=True).first()
        module = activate_pending_revision(ScriptModule.objects.get(pk=module_id), user, revision_id)
        self.logger.info('Module %s now runs revision %s (%s)', module.name, module.current_revision.number,
                         module.get_status_display())
        if module.error:
            self.logger.warning('%s', module.error)
        self.job.data = {'module': module.pk, 'revision': module.current_revision.number, 'status': module.status}
