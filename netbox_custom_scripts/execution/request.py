"""
A run request: everything one start of a script says, as a value. Each adapter (web form, REST API, CLI, nbshell,
event rule, schedule, approval, re-run) builds one and hands it to submit(); what kind of run it becomes follows
from its fields, not from flags on a function.
"""
import datetime
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django.utils.translation import gettext_lazy as _

from ..choices import NotificationChoices

__all__ = (
    'ACTIVE_BRANCH',
    'RunOption',
    'RunRequest',
    'resolve_commit',
    'run_options',
)

_RUN_OPTION = 'run_option'


class _ActiveBranch:
    """RunRequest.branch when the door does not say: the branch active where the request is submitted."""

    def __repr__(self):
        return 'ACTIVE_BRANCH'


ACTIVE_BRANCH = _ActiveBranch()


@dataclass(frozen=True)
class RunOption:
    """
    A run option every door takes the same way. Declared once, on its RunRequest field (run_option() below): the
    web form, the REST API and the CLI build their input for it from this declaration (forms/run.py,
    api/serializers/runs.py, cli/arguments.py), so adding one is: declare it here, reserve its form field name
    `_<name>` in scripting/meta.EXECUTION_PARAMETERS, and use its value where it takes effect.
    """
    label: str
    help: str
    kind: type = str          # bool, int or str
    choices: tuple = ()       # (value, label) pairs: a choice of these


def run_option(label, help, kind=str, choices=(), default=None):
    return field(default=default, metadata={_RUN_OPTION: RunOption(label, help, kind, tuple(choices))})


def run_options():
    """(name, RunOption) of every declared run option, in declaration order."""
    return [(item.name, item.metadata[_RUN_OPTION]) for item in fields(RunRequest) if _RUN_OPTION in item.metadata]


def resolve_commit(requested, commit_default):
    """
    Whether a run commits. The one rule for every entry point: a run commits when it says so, makes a dry run when
    it says so, and - when it does not say - does what the script's Meta.commit_default says (True unless the
    author set it). The CLI's `run` says: a dry run unless given --commit, as NetBox's runscript does.
    """
    return bool(commit_default) if requested is None else bool(requested)


@dataclass(kw_only=True)
class RunRequest:
    script: Any                                   # the Script record
    user: Any                                     # who runs it: their permissions and policy apply
    source: str                                   # RunSourceChoices: which door it came through
    data: dict = field(default_factory=dict)      # the script's inputs, raw (as a form or JSON gives them)
    files: dict = field(default_factory=dict)     # FileVar inputs: name -> uploaded file
    commit: bool | None = None                    # None: see resolve_commit()
    schedule_at: datetime.datetime | None = None  # run once, later
    interval: int | None = None                   # or repeat every N minutes (a Schedule)
    cron: str = ''                                # or repeat on a cron expression (a Schedule)
    notifications: str | None = run_option(       # None: Meta.notifications_default
        _('Notifications'), _('When to notify you that the run finished'),
        choices=[(value, label) for value, label, *__ in NotificationChoices.CHOICES],
    )
    queue: str | None = None                      # None: the script's own queue
    http_request: Any = None                      # the HTTP request it came with (for self.request)
    immediate: bool = False                       # execute in this process (CLI, nbshell), not on a worker
    on_created: Any = None                        # called with the run once its record is committed
    rerun_of: Any = None                          # the run this one repeats
    approval_of: Any = None                       # the approved request whose committed run this is
    schedule: Any = None                          # the Schedule this run is an occurrence of
    event: dict | None = None                     # the event that triggered it (event-rule runs)
    health_check: bool = False                    # run the script's tests, always rolled back
    # netbox-branching (execution/branches.py): the branch the run executes in - a Branch, its ID, name or schema
    # ID; None for main; ACTIVE_BRANCH (not said) for the branch active where the request is submitted (the web
    # session's, the API request's X-NetBox-Branch, the triggering change's for an event rule).
    branch: Any = ACTIVE_BRANCH
    new_branch: str = ''                          # stage in a new branch of this name: provision it, commit there

    @property
    def recurring(self):
        return bool(self.interval or self.cron)

    @property
    def timed(self):
        return bool(self.schedule_at or self.interval or self.cron)

    def but(self, **changes):
        """A copy with `changes`."""
        return replace(self, **changes)
