"""Building the plan: each step (modules, permissions, event rules, schedules, history) says what it would do."""
from django.utils.translation import gettext as _

from . import event_rules, modules, permissions, schedules
from . import history as history_step
from .permissions import unmovable_permission_items
from .plan import TO_DO, Plan, builtin_modules

__all__ = (
    'build_plan',
    'module_plans',
)


def module_plans(only=None, history=False):
    """One ModulePlan per built-in module in scope, in the order apply moves them (helpers first)."""

    scope = builtin_modules(only)
    plans = modules.plan_modules(scope)
    permissions.plan_permissions(plans)
    for plan in plans:
        event_rules.plan_event_rules(plan)
        schedules.plan_schedules(plan)
        if history:
            history_step.plan_history(plan)
        if not plan.movable:
            _stays(plan)
    return plans


def _stays(plan):
    """A module that cannot move keeps everything of it on the built-in side: say so on each item."""
    for item in plan.items[1:]:
        if item.action in TO_DO:
            item.action = 'cannot_move'
            item.reason = _('Its module stays on the built-in side.')
    plan.permissions, plan.event_rules, plan.schedules, plan.history = [], [], [], []
    plan.stale_permissions = []


def build_plan(only=None, history=False):
    """What migrate-builtin would do. Changes nothing (in the database, the queue or the storage)."""
    plans = module_plans(only, history)

    items = [item for plan in plans for item in plan.items]
    items.extend(unmovable_permission_items())
    return Plan(items=items, modules=plans)
