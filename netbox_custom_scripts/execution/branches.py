"""
netbox-branching: which branch a run executes in, and what the plugin must do so that only the script's work lands
there. Every use of netbox_branching goes through this module, and it imports netbox_branching only when that
plugin is installed: without it every function here says "main" (None) and runs behave as they always did.

- The run's own records (runs, logs, schedules, modules, revisions) always stay in main: exempt_plugin_models()
  tells branching's router that no model of this plugin is branch-aware.
- A run names its branch by ID (and keeps its name, for history); the worker looks it up again and activates it
  around the script, with the script's transaction opened on the branch's connection too.
"""
from contextlib import nullcontext

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils.translation import gettext as _

from .errors import InputError, RunRefused

__all__ = (
    'BRANCH_HEADER',
    'BRANCH_QUERY_PARAMETER',
    'branch_url',
    'check_branch',
    'connection_aliases',
    'current_branch',
    'exempt_plugin_models',
    'find_branch',
    'hold',
    'installed',
    'inside',
    'merge_url',
    'new_branch',
    'provision',
    'run_branch',
)

# What netbox-branching reads to pick a branch for an HTTP request; a queued run's copy of its request drops both,
# so that only the branch the run recorded is ever activated on the worker.
BRANCH_HEADER = 'X-NetBox-Branch'
BRANCH_QUERY_PARAMETER = '_branch'
PLUGIN_LABEL = 'netbox_custom_scripts'


def installed():
    return apps.is_installed('netbox_branching')


def _branch_model():
    from netbox_branching.models import Branch

    return Branch


def exempt_plugin_models():
    """
    Keep every model of this plugin out of branches. branching treats change-logged models as branch-aware, which
    would write a run record started in a branch into that branch's schema, where workers (in main) never see it
    and where it vanishes with the branch. Its resolver hook answers for our models before that default.
    """
    if not installed():
        return
    from netbox_branching.signals import pre_deprovision, pre_merge
    from netbox_branching.utilities import register_branching_resolver

    register_branching_resolver(_not_branchable)
    pre_merge.connect(_refuse_merge_under_a_run, weak=False, dispatch_uid='netbox_custom_scripts.branch_merge')
    # Deleting (deprovisioning) a branch under a running script: its later writes would fall through to main.
    pre_deprovision.connect(_refuse_merge_under_a_run, weak=False, dispatch_uid='netbox_custom_scripts.branch_drop')


def _refuse_merge_under_a_run(sender, branch, **kwargs):
    """
    No merge or delete of a branch while a script runs in it. A merge reads the branch's changes before it marks the
    branch merging, so the run's changes would stay behind in a merged branch; a dropped schema would send the
    run's later writes to main.
    """
    from ..choices import RunStatusChoices
    from ..models import ScriptRun

    busy = ScriptRun.objects.filter(branch_id=branch.pk, status=RunStatusChoices.RUNNING).order_by('pk').first()
    if busy is not None:
        raise RunRefused(_('Run #{run} ({script}) is executing in branch {branch}: wait until it has ended.'
                           ).format(run=busy.pk, script=busy.script_name, branch=branch.name))


def _not_branchable(model):
    return False if model._meta.app_label == PLUGIN_LABEL else None


def current_branch():
    """The branch active in this context (the request's, or the running script's), or None for main."""
    if not installed():
        return None
    from netbox_branching.contextvars import active_branch

    return active_branch.get()


def find_branch(reference, field='branch'):
    """
    The branch `reference` names: a Branch, its ID, its name or its schema ID. Raises InputError (on `field`) when
    branching is not installed or no such branch exists.
    """
    if reference in (None, ''):
        return None
    if not installed():
        raise InputError({field: [_('netbox-branching is not installed: there are no branches to run in.')]})
    Branch = _branch_model()
    if isinstance(reference, Branch):
        return reference
    text = str(reference).strip()
    branch = None
    is_id = text.isascii() and text.isdigit()  # not '¹' or '١', which int() refuses or reads as another number
    if is_id:
        branch = Branch.objects.filter(pk=int(text)).first()
    branch = branch or Branch.objects.filter(name=text).first() or Branch.objects.filter(schema_id=text).first()
    if branch is None:
        message = _('No branch with ID {id} (it may have been deleted).') if is_id else _(
            'No branch named {name!r}.')
        raise InputError({field: [message.format(id=text, name=text[:100])]})
    return branch


def check_branch(branch, user):
    """
    May `user` run into `branch` now? They must be allowed to view it (branching's object permissions), and it
    must be ready: one that is provisioning, syncing, merging, merged or archived takes no runs.
    """
    if branch is None:
        return
    if not user.is_superuser and not _branch_model().objects.restrict(user, 'view').filter(pk=branch.pk).exists():
        raise PermissionDenied(_('{user} may not access the branch {branch}.').format(user=user, branch=branch.name))
    if not branch.ready:
        raise RunRefused(_('Branch {branch} is not ready ({status}): a run can only execute in a ready branch.').format(
            branch=branch.name, status=branch.get_status_display().lower()
        ))


def new_branch(name, user):
    """
    A new, not yet provisioned branch called `name`, owned by `user`, for a run that stages its changes there. It
    is checked as branching checks a new branch (name, limits) and as `user` (the `add` permission on branches);
    the caller saves it in its transaction (save_new_branch()), and the run's worker provisions it.
    """
    if not installed():
        raise InputError({'new_branch': [_('netbox-branching is not installed: a run cannot stage in a branch.')]})
    name = (name or '').strip()
    if not name:
        raise InputError({'new_branch': [_('Give the new branch a name.')]})
    # Staging runs the script inside the branch: as for any run into a branch, its user must be able to view it.
    if not (user.has_perm('netbox_branching.add_branch') and user.has_perm('netbox_branching.view_branch')):
        raise PermissionDenied(_('{user} may not create branches (staging needs the add and view permissions on '
                                 'branches).').format(user=user))
    branch = _branch_model()(name=name, owner=user)
    try:
        branch.full_clean()
    except ValidationError as exc:
        raise InputError({'new_branch': [message for messages in exc.message_dict.values() for message in messages]})
    return branch


def save_new_branch(branch):
    """
    Save a branch from new_branch() without branching's own provisioning job: the run provisions it. Two requests
    for the same new name at once: the second is refused as the name check would have refused it.
    """
    try:
        with transaction.atomic():
            branch.save(provision=False)
    except IntegrityError:
        raise InputError({'new_branch': [_('A branch named {name!r} already exists.').format(name=branch.name)]})
    return branch


def provision(branch, user):
    """Provision a branch a staging run created (its worker does, before the script runs in it)."""
    if branch.status != 'new':
        return
    branch.provision(user=user)
    branch.refresh_from_db()


def run_branch(run):
    """
    The branch `run` executes in, looked up again (None: main). Raises RunRefused when it was deleted since the run
    was queued, or is no longer ready.
    """
    if run.branch_id is None:
        return None
    if not installed():
        raise RunRefused(_('This run executes in branch {branch}, but netbox-branching is no longer installed.').format(
            branch=run.branch_name
        ))
    branch = _branch_model().objects.filter(pk=run.branch_id).first()
    if branch is None:
        raise RunRefused(_('Branch {branch} was deleted before the run started.').format(branch=run.branch_name))
    user = run.user
    # Checked again when it starts: the user may have lost access to the branch while the run waited.
    if user is None or not (user.is_superuser or _branch_model().objects.restrict(user, 'view').filter(
            pk=branch.pk).exists()):
        raise RunRefused(_('{user} may no longer access the branch {branch}.').format(user=user, branch=branch.name))
    if run.branch_staged and branch.status == 'new':
        return branch
    if not branch.ready:
        raise RunRefused(_('Branch {branch} is not ready ({status}): the run did not start.').format(
            branch=branch.name, status=branch.get_status_display().lower()
        ))
    return branch


def inside(branch):
    """Activate `branch` for what runs inside; None: main (whichever branch was active around it)."""
    if not installed():
        return nullcontext()
    from netbox_branching.utilities import activate_branch, deactivate_branch

    return activate_branch(branch) if branch is not None else deactivate_branch()


def hold(branch):
    """
    Inside a run's transaction, before its script: share-lock the branch's row until the run ends, and check that the
    branch is still ready. branching's merge, sync and revert update that row first, and a delete removes it, so
    none of them can finish under a running script (its writes would otherwise land in a merged branch, or - once
    the schema is dropped - in main). Raises RunRefused when the branch is gone or no longer ready.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('SELECT status FROM netbox_branching_branch WHERE id = %s FOR SHARE', [branch.pk])
        row = cursor.fetchone()
    if row is None:
        raise RunRefused(_('Branch {branch} was deleted before the run started.').format(branch=branch.name))
    if row[0] != 'ready':
        raise RunRefused(_('Branch {branch} is not ready ({status}): the run did not start.').format(
            branch=branch.name, status=row[0]))


def connection_aliases(branch):
    """The database connections a run's transaction spans: main's, and the branch's when it runs in one."""
    if branch is None:
        return (DEFAULT_DB_ALIAS,)
    return (DEFAULT_DB_ALIAS, branch.connection_name)


def branch_url(run):
    """The branch's page, while it exists (None for main, or a branch deleted since)."""
    branch = _existing_branch(run)
    return branch.get_absolute_url() if branch is not None else None


def merge_url(run, user):
    """Branching's merge page for the run's branch, for a user who may merge it while it can be merged."""
    branch = _existing_branch(run)
    if branch is None or not branch.ready or not user.has_perm('netbox_branching.merge_branch', branch):
        return None
    from django.urls import reverse

    return reverse('plugins:netbox_branching:branch_merge', args=[branch.pk])


def _existing_branch(run):
    if run.branch_id is None or not installed():
        return None
    return _branch_model().objects.filter(pk=run.branch_id).first()
