"""
The plan: what moving the built-in scripts would do, item by item, computed without changing anything.

The same computation drives apply and verify: an apply carries out what the plan says for each module, and once it
has, the plan of that module says `already_done` for everything (that is what verify checks, and why a second
apply changes nothing). What was moved is recognised by natural keys - a plugin module with the built-in module's
name and code, a plugin script with the built-in script's class name - and by the marker each copy carries: the
description of a copied ObjectPermission, the comments of a copied event rule, ScriptRun.imported_job_id.
"""
from collections import Counter
from dataclasses import asdict, dataclass, field

from django.utils.translation import gettext as _

from .access import MigrationRefused

__all__ = ('ACTIONS', 'KINDS', 'TO_DO', 'ModulePlan', 'Plan', 'PlanItem', 'builtin_modules')

KINDS = ('module', 'script', 'permission', 'event_rule', 'schedule', 'history')
ACTIONS = ('move', 'link', 'repoint', 'copy', 'update', 'remove', 'already_done', 'cannot_move')
# 'update' / 'remove': a permission copy that no longer matches its original (changed or revoked since the apply).
TO_DO = ('move', 'link', 'repoint', 'copy', 'update', 'remove')


@dataclass
class PlanItem:
    kind: str
    builtin: str
    builtin_id: int | None
    module: str | None
    action: str
    target: str
    reason: str = ''

    def to_dict(self):
        return asdict(self)


@dataclass
class ModulePlan:
    """Everything belonging to one built-in module, with what apply will do with it."""
    name: str
    builtin: object                      # extras.ScriptModule
    source_code: str | None = None       # None: it could not be read
    items: list = field(default_factory=list)
    # Filled in by the steps for apply: what to create.
    permissions: list = field(default_factory=list)   # permissions.PermissionCopy
    stale_permissions: list = field(default_factory=list)  # copies whose original no longer grants them
    secret_inputs: dict = field(default_factory=dict)  # class name -> names of its secret variables
    event_rules: list = field(default_factory=list)   # event_rules.RuleCopy
    schedules: list = field(default_factory=list)     # schedules.ScheduleMove
    history: list = field(default_factory=list)       # core.Job rows to import

    @property
    def module_item(self):
        return self.items[0]

    @property
    def movable(self):
        return self.module_item.action != 'cannot_move'

    @property
    def to_do(self):
        return [item for item in self.items if item.action in TO_DO]

    def add(self, kind, builtin, builtin_id, action, target, reason=''):
        item = PlanItem(kind, builtin, builtin_id, self.name, action, target, reason)
        self.items.append(item)
        return item


@dataclass
class Plan:
    items: list
    modules: list = field(default_factory=list)   # ModulePlan, in the order apply moves them

    @property
    def summary(self):
        return dict(Counter(item.action for item in self.items))

    @property
    def can_apply(self):
        return any(item.action in TO_DO for item in self.items)

    def to_dict(self):
        return {
            'items': [item.to_dict() for item in self.items],
            'summary': self.summary,
            'can_apply': self.can_apply,
        }


def builtin_modules(only=None):
    """The built-in script modules in scope, by module name. An unknown name in `only` refuses the whole request."""
    from extras.models import ScriptModule as BuiltinModule

    modules = {}
    for module in BuiltinModule.objects.order_by('file_path'):
        modules.setdefault(module.python_name, module)
    if only is not None:
        only = [only] if isinstance(only, str) else list(only)
        unknown = sorted({name for name in only if name not in modules})
        if unknown:
            raise MigrationRefused(_(
                'No built-in script module named {names}; the built-in modules are: {known}.'
            ).format(names=', '.join(repr(name) for name in unknown), known=', '.join(sorted(modules)) or _('none')))
        modules = {name: module for name, module in modules.items() if name in set(only)}
    return modules


