"""
Run policies: what a script's Meta (and the plugin settings) allow a given start of it. dispatch.prepare() asks
apply_policy() before it writes anything; a refusal raises PermissionDenied, InputError or RunRefused.

- run_mode: 'any', 'manual' (never from an event rule) or 'event' (only from event rules).
- allowed_queues: queues a run may ask for besides the script's own.
- max_runtime: the longest time limit a run gets, whatever Meta.job_timeout or the plugin default say.
- rate_limit: at most N runs per period for each user ('10/hour'); runs of schedules and event rules do not count.
- commit_requires_permission: committing needs the `commit` action; without it a committed run needs approval.
- approval_required: every committed run first runs dry and waits for someone else's approval.
"""
import datetime
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext as _
from netbox.plugins import get_plugin_config

from ..choices import RunSourceChoices
from ..models import Script, ScriptRun
from ..scripting.meta import script_options
from .errors import RateLimited, RunRefused
from .inputs import InputError

__all__ = (
    'RunPlan',
    'apply_policy',
    'check_unattended_commit',
    'may_commit_directly',
    'needs_approval',
)

# Started by a person (or their tooling), as opposed to an event rule or a schedule.
MANUAL_SOURCES = (RunSourceChoices.UI, RunSourceChoices.API, RunSourceChoices.CLI, RunSourceChoices.NBSHELL)


@dataclass
class RunPlan:
    """What a permitted start of a script becomes."""
    queue: str
    job_timeout: int | None
    approval: bool


def commit_requires_permission(script_class):
    value = script_options(script_class).commit_requires_permission
    return get_plugin_config('netbox_custom_scripts', 'commit_requires_permission') if value is None else value


def may_commit_directly(script, script_class, user):
    """Whether `user` may commit runs of `script` without approval (Meta.approval_required aside)."""
    if not commit_requires_permission(script_class):
        return True
    return Script.objects.restrict(user, 'commit').filter(pk=script.pk).exists()


def needs_approval(script, script_class, user, commit):
    if not commit:
        return False
    return script_options(script_class).approval_required or not may_commit_directly(script, script_class, user)


def check_unattended_commit(script, user):
    """
    Whether `user` may set up committed runs that nobody confirms (an event rule), from the script's recorded Meta:
    such runs cannot wait for approval, so they need the right to commit directly. Raises PermissionDenied.
    """
    meta = script.meta or {}
    if meta.get('approval_required'):
        raise PermissionDenied(_('committed runs of {script} need approval, which an unattended run cannot wait for')
                               .format(script=script.full_name))
    requires = meta.get('commit_requires_permission')
    if requires is None:
        requires = get_plugin_config('netbox_custom_scripts', 'commit_requires_permission')
    if requires and not Script.objects.restrict(user, 'commit').filter(pk=script.pk).exists():
        raise PermissionDenied(_('{user} may not commit runs of {script}').format(user=user, script=script.full_name))


def _check_run_mode(script_class, source):
    mode = script_options(script_class).run_mode
    if mode == 'manual' and source == RunSourceChoices.EVENT:
        raise RunRefused(_('This script runs only when started by hand (Meta.run_mode = "manual").'))
    if mode == 'event' and source != RunSourceChoices.EVENT:
        raise RunRefused(_('This script runs only from event rules (Meta.run_mode = "event").'))


def _choose_queue(script_class, queue):
    options = script_options(script_class)
    own = options.queue or get_plugin_config('netbox_custom_scripts', 'default_queue')
    if queue in (None, '', own):
        return own
    if queue not in options.allowed_queues:
        allowed = ', '.join(sorted({own, *options.allowed_queues}))
        raise InputError({'queue': [_('Queue {queue!r} is not allowed for this script (allowed: {allowed}).').format(
            queue=queue, allowed=allowed
        )]})
    return queue


def _job_timeout(script_class):
    options = script_options(script_class)
    timeout = options.job_timeout_seconds or get_plugin_config('netbox_custom_scripts', 'default_job_timeout')
    limit = options.max_runtime_seconds
    if limit and (not timeout or timeout > limit):
        return limit
    return timeout


def _check_rate_limit(script, script_class, user, source):
    options = script_options(script_class)
    limit = options.rate_limit
    if limit is None or source not in MANUAL_SOURCES:
        return
    count, period = limit
    since = timezone.now() - datetime.timedelta(seconds=period)
    recent = ScriptRun.objects.filter(
        script=script, user=user, source__in=MANUAL_SOURCES, created__gte=since, approval_of__isnull=True,
    ).order_by('created').values_list('created', flat=True)[:count]
    recent = list(recent)
    if len(recent) >= count:
        wait = recent[0] + datetime.timedelta(seconds=period) - timezone.now()
        seconds = max(1, int(wait.total_seconds()) + 1)
        raise RateLimited(_(
            'Rate limit reached: at most {limit} runs of this script per user; try again in {seconds} s.'
        ).format(limit=options.rate_limit_text, seconds=seconds), retry_after=seconds)


def apply_policy(script, script_class, *, user, source, commit, queue=None, approved=False):
    """
    Check a start of `script` against its policy and return its RunPlan. `approved`: the committed run of an
    approved request, which the reviewer has already let through (only its queue and time limit are decided).
    """
    plan = RunPlan(
        queue=_choose_queue(script_class, queue),
        job_timeout=_job_timeout(script_class),
        approval=False,
    )
    if approved:
        return plan
    _check_run_mode(script_class, source)
    if commit and source not in (RunSourceChoices.EVENT, RunSourceChoices.SCHEDULE):
        plan.approval = needs_approval(script, script_class, user, commit)
    elif commit and needs_approval(script, script_class, user, commit):
        # Nobody is there to ask: a schedule or event rule may only commit what its owner could commit directly.
        raise PermissionDenied(_(
            'Committed runs of {script} need approval, so a schedule or an event rule cannot start them.'
        ).format(script=script.full_name))
    _check_rate_limit(script, script_class, user, source)
    return plan
