"""
Apply: carry out the plan, one database transaction per module.

Everything of a module - its counterpart, the copies of its permissions, its event rules and schedules, its history
- is written in that module's transaction: a failure anywhere rolls it all back, leaving the module untouched on
the built-in side (and reported with the error); the other modules go on. The plan is computed again inside the
migration lock, so two applies started together do the work once: the second finds everything done.
"""
import logging
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock

from ..execution import forget
from . import event_rules, history, modules, permissions, schedules
from .access import LOCK_ID, check_may_migrate
from .planning import module_plans

__all__ = ('ApplyResult', 'apply_plan')

logger = logging.getLogger('netbox_custom_scripts.migrate_builtin')


@dataclass
class ApplyResult:
    moved: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    unchanged: list = field(default_factory=list)
    counts: dict = field(default_factory=lambda: dict.fromkeys(
        ('modules', 'permissions', 'event_rules', 'schedules', 'history'), 0))
    owners: dict = field(default_factory=dict)   # copied event rule name -> owner username

    def to_dict(self):
        return asdict(self)


def _error_text(exc):
    if isinstance(exc, ValidationError):
        return '; '.join(f'{key}: {" ".join(messages)}' if key != '__all__' else ' '.join(messages)
                         for key, messages in exc.message_dict.items()) if hasattr(exc, 'error_dict') else \
            '; '.join(exc.messages)
    return f'{type(exc).__name__}: {exc}' if not str(exc) else str(exc)


def _apply_module(plan, user, result):
    counts = dict.fromkeys(result.counts, 0)
    with transaction.atomic():
        if plan.module_item.action in ('move', 'link'):
            modules.move_module(plan, user)
            counts['modules'] += 1
        for copy in plan.permissions:
            permissions.copy_permission(copy)
            counts['permissions'] += 1
        for stale in plan.stale_permissions:
            stale.delete()
            counts['permissions'] += 1
        owners = {}
        for copy in plan.event_rules:
            rule, owner = event_rules.copy_rule(plan, copy, user)
            if copy.existing is None:  # an update keeps the copy's owner
                owners[rule.name] = owner.username if owner else None
            counts['event_rules'] += 1
        for move in plan.schedules:
            schedules.move_schedule(plan, move)
            counts['schedules'] += 1
        if plan.history:
            counts['history'] += history.import_jobs(plan, plan.history)
    for key, value in counts.items():
        result.counts[key] += value
    result.owners.update(owners)


def apply_plan(user, only=None, history=False, progress=None):
    """Move the built-in scripts in scope. Raises MigrationRefused (changing nothing) for a user who may not."""
    check_may_migrate(user)
    with advisory_lock(LOCK_ID):
        plans = module_plans(only, history)   # after the lock: what a concurrent apply did counts as done
        total = len(plans)
        result = ApplyResult()
        for done, plan in enumerate(plans):
            if progress is not None:
                progress(done, total, _('Module {name}').format(name=plan.name))
            if not plan.movable:
                result.failed[plan.name] = plan.module_item.reason
                continue
            if not plan.to_do:
                result.unchanged.append(plan.name)
                continue
            try:
                _apply_module(plan, user, result)
            except Exception as exc:  # any failure: the module's transaction was rolled back, the others go on
                logger.exception('Moving built-in module %s failed; it was left as it was', plan.name)
                forget(plan.name)
                result.failed[plan.name] = _error_text(exc)
                continue
            result.moved.append(plan.name)
        if progress is not None:
            progress(total, total, _('Done'))
    return result
