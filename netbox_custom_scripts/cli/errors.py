"""Exit statuses of `netbox custom_scripts`, and the core's errors as the CLI reports them."""


from ..choices import RunStatusChoices
from ..execution import (
    InputError,
)

# Exit status by final run status: 0 only for a run that completed cleanly.
EXIT_CODES = {
    RunStatusChoices.COMPLETED: 0,
    RunStatusChoices.FAILED: 1,
    RunStatusChoices.ABORTED: 2,
    RunStatusChoices.ERRORED: 3,
    RunStatusChoices.TIMED_OUT: 4,
    RunStatusChoices.CANCELLED: 5,
    RunStatusChoices.AWAITING_APPROVAL: 6,
    RunStatusChoices.REJECTED: 7,
    RunStatusChoices.APPROVED: 0,
    RunStatusChoices.REFUSED: 10,
}
EXIT_REFUSED = 10  # bad arguments, unknown user or script, invalid inputs, no permission

# NetBox's runscript takes Python logging levels; map them onto script log levels.
LOGLEVELS = {'debug': 'debug', 'info': 'info', 'warning': 'warning', 'error': 'failure', 'critical': 'failure'}

DATA_HELP = 'a JSON object, @file with the JSON, or @- to read the JSON from standard input'


def describe_error(exc):
    if isinstance(exc, InputError):
        return 'Invalid inputs: ' + '; '.join(
            f'{name if name != "__all__" else "script"}: {" ".join(messages)}'
            for name, messages in exc.message_dict.items()
        )
    return str(exc) or type(exc).__name__
