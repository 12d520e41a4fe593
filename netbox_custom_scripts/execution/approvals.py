"""
Approvals. A committed run that needs approval (policy.needs_approval) is recorded as a dry run with
`approval_requested`; when its dry run completes it waits as "awaiting approval" with its diff. A reviewer with the
`approve` action on the script - never the requester - approves it, which starts a committed run of the same
revision with the requester's stored inputs, as the requester; or rejects it with a comment. The requester is
notified either way, the reviewers when a request arrives. Every decision is saved through the model, so it is in
NetBox's change log.
"""
from core.models import ObjectType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from extras.models import Notification
from users.models import ObjectPermission, User

from ..choices import RunStatusChoices
from ..events import APPROVAL_REQUESTED, RUN_APPROVED, RUN_REJECTED
from ..models import Script, ScriptRun
from .changes import change_logging
from .dispatch import start_run
from .errors import RunRefused
from .inputs import InputError
from .request import RunRequest

__all__ = (
    'APPROVAL_REQUESTED',
    'RUN_APPROVED',
    'RUN_REJECTED',
    'approve_run',
    'may_review',
    'reject_run',
    'reviewers',
)



def may_review(run, user):
    """Whether `user` may approve or reject `run` (someone else's request, with the approve action on its script)."""
    return (
        run.script_id is not None
        and user.is_authenticated
        and run.user_id != user.pk
        and Script.objects.restrict(user, 'approve').filter(pk=run.script_id).exists()
    )


def _check_reviewer(run, user):
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied(_('Reviewing a run needs an active user.'))
    if run.user_id == user.pk:
        raise PermissionDenied(_('You requested this run; someone else must review it.'))
    if run.script_id is None or not Script.objects.restrict(user, 'approve').filter(pk=run.script_id).exists():
        raise PermissionDenied(_('{user} may not approve runs of {script}.').format(user=user, script=run.script_name))


def _lock_for_review(run):
    """The run, locked until the caller's transaction ends; refuses one that is no longer awaiting approval."""
    locked = ScriptRun.objects.select_for_update(of=('self',)).select_related('script__module', 'reviewed_by').get(
        pk=run.pk
    )
    if locked.status != RunStatusChoices.AWAITING_APPROVAL:
        if locked.reviewed_by_id:
            # Read afresh: a row locked after a concurrent review comes back with that review, its joins without it.
            reviewer = User.objects.filter(pk=locked.reviewed_by_id).first()
            raise RunRefused(_('Run #{run} was already {status} by {user}.').format(
                run=locked.pk, status=locked.get_status_display().lower(), user=reviewer or '?'
            ))
        raise RunRefused(_('Run #{run} is not awaiting approval (it is {status}).').format(
            run=locked.pk, status=locked.get_status_display().lower()
        ))
    return locked


def _record_review(run, user, status, comment):
    run.snapshot()
    run.status = status
    run.reviewed_by = user
    run.reviewed = timezone.now()
    run.review_comment = comment
    with change_logging(user):
        run.save()


def approve_run(run, user, comment='', *, http_request=None):
    """
    Approve `run` as `user` and start its committed run (returned). Refused when `user` requested it or may not
    approve, when it is not (or no longer) awaiting approval, or when its module changed since the dry run: the
    reviewer must see exactly what will be committed. Two reviewers at once: the first wins, the second is refused.
    """
    _check_reviewer(run, user)
    with transaction.atomic():
        run = _lock_for_review(run)
        script = run.script
        if script is None or not script.is_active:
            raise RunRefused(_('The script of run #{run} no longer exists.').format(run=run.pk))
        if script.module.content_hash != run.content_hash or script.module.current_revision_id != run.revision_id:
            raise RunRefused(_(
                'The module {module} changed since this dry run; what was reviewed is not what would run. The '
                'requester must submit it again.'
            ).format(module=script.module.name))
        if run.user is None or not run.user.is_active:
            raise RunRefused(_('The requester of run #{run} no longer has an active account.').format(run=run.pk))
        _record_review(run, user, RunStatusChoices.APPROVED, comment)
        # Run as the requester, with their (re-checked) permission and their stored inputs.
        committed = start_run(RunRequest(
            script=script, user=run.user, data=run.inputs, commit=True, source=run.source, http_request=http_request,
            notifications=run.notifications, queue=run.queue, approval_of=run, branch=run.branch_id,
        ))
    _notify(run, run.user, RUN_APPROVED)
    return committed


def reject_run(run, user, comment):
    """Reject `run` as `user`, with a comment saying why (required)."""
    comment = (comment or '').strip()
    if not comment:
        raise InputError({'comment': [_('Say why the run is rejected: a comment is required.')]})
    _check_reviewer(run, user)
    with transaction.atomic():
        run = _lock_for_review(run)
        _record_review(run, user, RunStatusChoices.REJECTED, comment)
    _notify(run, run.user, RUN_REJECTED)
    return run


def reviewers(run):
    """Active users other than the requester who may review `run`, from the ObjectPermissions granting `approve`."""
    grants = ObjectPermission.objects.filter(
        enabled=True, actions__contains=['approve'], object_types=ObjectType.objects.get_for_model(Script),
    )
    candidates = User.objects.filter(
        Q(object_permissions__in=grants) | Q(groups__object_permissions__in=grants), is_active=True,
    ).exclude(pk=run.user_id).distinct()
    return [user for user in candidates if may_review(run, user)]


def _notify(run, user, event_type):
    if user is None:
        return
    # One notification per run and user (NetBox's constraint): the newest event replaces an unread older one.
    Notification.objects.update_or_create(
        object_type=ObjectType.objects.get_for_model(ScriptRun), object_id=run.pk, user=user,
        defaults={'event_type': event_type, 'read': None, 'object_repr': str(run)[:200]},
    )


def notify_reviewers(run):
    if run.status == RunStatusChoices.AWAITING_APPROVAL:
        for user in reviewers(run):
            _notify(run, user, APPROVAL_REQUESTED)
