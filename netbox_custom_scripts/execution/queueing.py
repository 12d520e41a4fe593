"""
The one place that puts work on RQ: every job of the plugin (runs, directory syncs, revision activations, the
built-in migration) is enqueued here, with identities only in its payload and the plugin's default queue.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ..models import Script, ScriptRun
from ..scripting.meta import secret_variable_names
from .changes import capture_request
from .errors import RunRefused
from .secrets import seal
from .sources.registry import may_change
from .worker import ActivateRevisionJob, RunScriptJob, SyncModulesJob

__all__ = (
    'enqueue_directory_sync',
    'enqueue_job',
    'enqueue_revision_activation',
    'enqueue_run',
    'identity_only',
)


def identity_only(user):
    """A stand-in for `user` that carries its ID and name and nothing else (no password hash), for queued jobs."""
    if user is None or not getattr(user, 'pk', None):
        return None
    return get_user_model()(pk=user.pk, username=user.username)


def enqueue_job(job_class, *, user, queue_name=None, **kwargs):
    """Queue a JobRunner of the plugin as `user` (their identity only), on the default queue unless told."""
    return job_class.enqueue(
        user=identity_only(user), queue_name=queue_name or get_plugin_config('netbox_custom_scripts', 'default_queue'),
        **kwargs,
    )


def enqueue_directory_sync(user):
    """Queue a SyncModulesJob; returns the core Job. Raises RunRefused when no scripts directory is configured."""
    if not get_plugin_config('netbox_custom_scripts', 'scripts_dir'):
        raise RunRefused(_('No scripts directory is configured (setting scripts_dir).'))
    return enqueue_job(SyncModulesJob, user=user)


def enqueue_revision_activation(module, user, number):
    """
    Queue the activation of revision `number` - the module's pending revision, as the user saw it - on a worker
    (where it is imported for the first time). Raises PermissionDenied unless `user` may change the module, and
    RunRefused when that revision is not (or no longer) the pending one: newer code must be reviewed first.
    """
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
    return enqueue_job(
        ActivateRevisionJob, user=user, name=f'Activate revision r{pending.number} of module {module.name}'[:200],
        module_id=module.pk, revision_id=pending.pk,
    )


def enqueue_run(run, request, inputs, script_class, *, immediate=False):
    """
    Hand `run` to RQ, with its ValidatedInputs' secrets sealed and its files as bytes (neither is ever stored with the
    run); the worker validates the stored inputs again, since objects and permissions may change while it waits.
    `immediate`: execute it in this process before returning, with the inputs just validated (nothing can change
    in between).
    """
    secret_fields = tuple(secret_variable_names(script_class))
    file_payload = [] if immediate else [
        (name, upload.name, upload.read(), getattr(upload, 'content_type', None))
        for name, upload in (request.files or {}).items()
    ]
    kwargs = dict(
        # Identities only: RQ pickles the core Job with the objects it was given (a User with its password hash, a
        # Script with its module's source) into Redis, which keeps failed jobs for a year.
        instance=request.script if immediate else Script(pk=request.script.pk),
        name=f'Run {request.script.full_name}'[:200],
        user=request.user if immediate else identity_only(request.user),
        schedule_at=None if immediate else request.schedule_at,
        queue_name=run.queue,
        notifications=run.notifications,
        run_id=run.pk,
        sealed_secrets=None if immediate else seal(inputs.secrets),
        files=file_payload,
        request=capture_request(request.http_request, secret_fields),
    )
    if run.job_timeout:
        kwargs['job_timeout'] = run.job_timeout
    if immediate:
        # Job.enqueue() runs an immediate job before it returns, so the run record learns its job first.
        RunScriptJob.enqueue(immediate=True, cleaned_inputs=inputs.cleaned, **kwargs)
        return
    job = RunScriptJob.enqueue(**kwargs)
    ScriptRun.objects.filter(pk=run.pk).update(job=job)
    run.job = job
