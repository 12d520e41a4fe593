"""
Moving a NetBox installation off the built-in custom scripts (`extras.ScriptModule`), one planned, reversible step.

The interface the CLI (`netbox custom_scripts migrate-builtin`), the web page, the REST endpoints and the background
job share:

    plan = build_plan(only=None, history=False)       # changes nothing; plan.items, plan.to_dict()
    result = apply_plan(user, only=None, history=False, progress=None)   # one transaction per module
    report = verify(only=None)                        # report.ok, report.problems
    done = cleanup(user)                              # only after verify() passes
    may_migrate(user) -> bool                         # superusers, or `migrate` on script modules
    MigrationRefused                                  # raised when refused; nothing was changed

The steps live in their own modules: plan (the items), modules (code and scripts), permissions, event_rules,
schedules, history, apply, verify (verify and cleanup). See docs/migration.md.
"""
from .access import MigrationRefused, may_migrate
from .apply import ApplyResult, apply_plan
from .plan import Plan, PlanItem
from .planning import build_plan
from .verify import CleanupResult, VerifyReport, cleanup, verify

__all__ = (
    'ApplyResult',
    'CleanupResult',
    'MigrationRefused',
    'Plan',
    'PlanItem',
    'VerifyReport',
    'apply_plan',
    'build_plan',
    'cleanup',
    'may_migrate',
    'verify',
)
