"""
Verify and cleanup.

verify() checks every built-in item in scope against its counterpart: it is ok when the plan has nothing left to do
and nothing that cannot be moved, except permissions whose constraints cannot be translated exactly (reported, and
kept by cleanup: they grant nothing on plugin scripts).

cleanup() removes what the apply left behind for a rollback - the disabled original event rules, the original
permissions on built-in scripts, the built-in modules (their scripts and files, through NetBox's own delete) - only
when verify() passes, and only once: after it, nothing built-in is left to clean up.
"""
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock

from . import event_rules, history, permissions
from .access import LOCK_ID, MigrationRefused, check_may_migrate
from .plan import TO_DO, builtin_modules
from .planning import module_plans

__all__ = ('CleanupResult', 'VerifyReport', 'cleanup', 'verify')


@dataclass
class VerifyReport:
    ok: bool
    problems: list = field(default_factory=list)
    checked: int = 0   # built-in items compared with their counterparts

    def to_dict(self):
        return {'ok': self.ok, 'problems': self.problems}


def verify(only=None):
    plans = module_plans(only, history=False)
    problems, checked = [], 0
    for plan in plans:
        for item in plan.items:
            checked += 1
            if item.action in TO_DO:
                problems.append(_('{item}: not moved yet ({target}).').format(item=item.builtin, target=item.target))
            elif item.action == 'cannot_move':
                problems.append(_('{item}: {reason}').format(item=item.builtin, reason=item.reason))
        for rule in event_rules.builtin_rules(plan.builtin):
            copy = event_rules.copy_of(rule)
            if copy is not None and copy.action_object is None:
                problems.append(_("event rule '{name}': its copy runs a script that no longer exists.").format(
                    name=rule.name))
    return VerifyReport(ok=bool(plans) and not problems, problems=problems if plans else [
        _('There are no built-in script modules to check.')], checked=checked)


@dataclass
class CleanupResult:
    modules: list = field(default_factory=list)
    event_rules: list = field(default_factory=list)
    permissions: list = field(default_factory=list)
    kept_permissions: list = field(default_factory=list)
    discarded_jobs: int = 0

    def to_dict(self):
        return asdict(self)


def cleanup(user, only=None, discard_history=False):
    """
    Remove the built-in side of what was moved. Refused (MigrationRefused, nothing changed) for a user who may not
    migrate, when there is nothing built-in left (cleanup was done), when verify() finds a problem, and - unless
    `discard_history` - when finished built-in jobs were not imported (`apply --history`): they would be lost.
    """
    from extras.models import ScriptModule as BuiltinModule

    check_may_migrate(user)
    with advisory_lock(LOCK_ID):
        if not builtin_modules():
            raise MigrationRefused(_('Nothing to clean up: no built-in script modules are left (cleanup was done).'))
        report = verify(only)
        if not report.ok:
            raise MigrationRefused(_('Cleanup needs a verified apply; verify reports: {problems}').format(
                problems=' '.join(report.problems)))
        scope = builtin_modules(only)
        result = CleanupResult()
        lost = sum(_not_imported(module).count() for module in scope.values())
        if lost and not discard_history:
            raise MigrationRefused(_(
                '{n} finished built-in jobs were not imported and would be deleted with their modules: run apply '
                'with --history first, or clean up with --discard-history.').format(n=lost))
        result.discarded_jobs = lost
        with transaction.atomic():
            for module in scope.values():
                for rule in event_rules.builtin_rules(module):
                    result.event_rules.append(rule.name)
                    rule.delete()
            remaining = set(builtin_modules()) - set(scope)
            for permission in permissions.script_permissions():
                if not permissions.copies_of(permission).exists():
                    result.kept_permissions.append(permission.name)
                    continue
                if remaining:
                    continue  # still needed by built-in modules that stay
                result.permissions.append(permission.name)
                builtin_type = permissions._builtin_types()
                if permission.object_types.exclude(pk=builtin_type.pk).exists():
                    permission.object_types.remove(builtin_type)
                else:
                    permission.delete()
            for name, module in scope.items():
                # NetBox's own delete: its scripts, their jobs and (at the end) its file in the storage.
                BuiltinModule.objects.get(pk=module.pk).delete()
                result.modules.append(name)
    return result


def _not_imported(module):
    from ..models import ScriptRun

    jobs = history.finished_jobs(module)
    imported = ScriptRun.objects.filter(imported_job_id__in=jobs.values('pk'))
    return jobs.exclude(pk__in=imported.values('imported_job_id')).values_list('pk', flat=True)
