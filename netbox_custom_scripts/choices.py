from django.utils.translation import gettext_lazy as _
from utilities.choices import ChoiceSet

from .scripting.vocabulary import NOTIFICATION_CHOICES, LogLevel


class ModuleSourceChoices(ChoiceSet):
    """Where a script module's source comes from."""
    UPLOAD = 'upload'
    DIRECTORY = 'directory'
    DATA_SOURCE = 'data-source'

    CHOICES = (
        (UPLOAD, _('Upload'), 'blue'),
        (DIRECTORY, _('Directory'), 'purple'),
        (DATA_SOURCE, _('Data source'), 'cyan'),
    )


class ModuleStatusChoices(ChoiceSet):
    """Whether a module's current revision imported cleanly."""
    OK = 'ok'
    ERROR = 'error'
    MISSING = 'missing'

    CHOICES = (
        (OK, _('OK'), 'green'),
        (ERROR, _('Error'), 'red'),
        (MISSING, _('Missing'), 'gray'),
    )


class RunStatusChoices(ChoiceSet):
    """The life of a run. Terminal states say truthfully how it ended."""
    PENDING = 'pending'
    SCHEDULED = 'scheduled'
    RUNNING = 'running'
    COMPLETED = 'completed'
    FAILED = 'failed'            # finished, but log_failure() was called
    ABORTED = 'aborted'          # AbortScript
    ERRORED = 'errored'          # uncaught exception, or the worker died
    TIMED_OUT = 'timed_out'
    CANCELLED = 'cancelled'
    # Approval: a committed run that needs approval first runs as a dry run, then waits for a reviewer.
    AWAITING_APPROVAL = 'awaiting_approval'
    APPROVED = 'approved'        # its committed run was started
    REJECTED = 'rejected'
    # Never started: its user (an event rule's owner, say) lacked the rights, or a policy or a busy singleton
    # refused it. Nothing was run.
    REFUSED = 'refused'

    CHOICES = (
        (PENDING, _('Pending'), 'cyan'),
        (SCHEDULED, _('Scheduled'), 'gray'),
        (RUNNING, _('Running'), 'blue'),
        (COMPLETED, _('Completed'), 'green'),
        (FAILED, _('Completed with failures'), 'orange'),
        (ABORTED, _('Aborted'), 'red'),
        (ERRORED, _('Errored'), 'red'),
        (TIMED_OUT, _('Timed out'), 'red'),
        (CANCELLED, _('Cancelled'), 'gray'),
        (AWAITING_APPROVAL, _('Awaiting approval'), 'yellow'),
        (APPROVED, _('Approved'), 'teal'),
        (REJECTED, _('Rejected'), 'red'),
        (REFUSED, _('Refused'), 'purple'),
    )

    WAITING = (PENDING, SCHEDULED)
    ACTIVE = (PENDING, SCHEDULED, RUNNING)
    # Ended: its job will not run again. An awaiting-approval run has run its dry run but is still open.
    TERMINAL = (COMPLETED, FAILED, ABORTED, ERRORED, TIMED_OUT, CANCELLED, APPROVED, REJECTED, REFUSED)
    SETTLED = (*TERMINAL, AWAITING_APPROVAL)


class RunSourceChoices(ChoiceSet):
    """How a run was started."""
    UI = 'ui'
    API = 'api'
    CLI = 'cli'
    NBSHELL = 'nbshell'
    SCHEDULE = 'schedule'
    EVENT = 'event'
    TEST = 'test'
    IMPORTED = 'imported'

    CHOICES = (
        (UI, _('Web UI')),
        (API, _('REST API')),
        (CLI, _('Command line')),
        (NBSHELL, _('nbshell / Python')),
        (SCHEDULE, _('Schedule')),
        (EVENT, _('Event rule')),
        (TEST, _('Test helper')),
        (IMPORTED, _('Imported from built-in scripts')),
    )


class LogLevelChoices(ChoiceSet):
    # The authoring API's levels (what scripts log with), with the UI's labels and colours.
    DEBUG = LogLevel.DEBUG
    INFO = LogLevel.INFO
    SUCCESS = LogLevel.SUCCESS
    WARNING = LogLevel.WARNING
    FAILURE = LogLevel.FAILURE

    CHOICES = (
        (DEBUG, _('Debug'), 'gray'),
        (INFO, _('Info'), 'cyan'),
        (SUCCESS, _('Success'), 'green'),
        (WARNING, _('Warning'), 'yellow'),
        (FAILURE, _('Failure'), 'red'),
    )


class ChangeActionChoices(ChoiceSet):
    CREATE = 'create'
    UPDATE = 'update'
    DELETE = 'delete'

    CHOICES = (
        (CREATE, _('Created'), 'green'),
        (UPDATE, _('Updated'), 'blue'),
        (DELETE, _('Deleted'), 'red'),
    )


class NotificationChoices(ChoiceSet):
    # Meta.notifications_default takes these (the authoring API's NOTIFICATION_CHOICES, as NetBox's).
    ALWAYS, ON_FAILURE, NEVER = NOTIFICATION_CHOICES

    CHOICES = (
        (ALWAYS, _('Always')),
        (ON_FAILURE, _('On failure')),
        (NEVER, _('Never')),
    )


class HealthChoices(ChoiceSet):
    """A script's health: the result of its own tests at their last run."""
    UNKNOWN = 'unknown'
    PASSING = 'passing'
    FAILING = 'failing'

    CHOICES = (
        (UNKNOWN, _('Not tested'), 'gray'),
        (PASSING, _('Passing'), 'green'),
        (FAILING, _('Failing'), 'red'),
    )
