"""
Health checks: a script's own test_* methods, and a companion module's tests, run against live data and always
rolled back.
"""
import json
import logging
from functools import partial

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rq.timeouts import JobTimeoutException

from ..choices import HealthChoices, LogLevelChoices, RunStatusChoices
from ..models import Script, ScriptModule
from ..scripting.log import LOG_LEVELS
from ..scripting.script import BaseScript, report_test_names
from .changes import change_tracking
from .interrupts import RunCancelled, cancel_signal
from .loader import load_revision
from .outcome import DryRunRollback, RunOutcome, log_line

__all__ = (
    'companion_tests',
    'run_health_check',
)

logger = logging.getLogger('netbox_custom_scripts.runner')


def run_health_check(run, script_class, request, recorder, stopper=None):
    """
    Run the script's test_* methods against the live data in a transaction that is always rolled back, each in a
    savepoint of its own so one failing test does not hide the others. A test fails when it raises (an assert, say)
    or logs a failure. Records the result as the script's health.
    """
    script = script_class()
    script.request = request
    script._reporter = recorder
    tests = [(name, getattr(script, name)) for name in report_test_names(script_class)]
    tests += [(name, partial(test, script)) for name, test in companion_tests(run.script)]
    for name, _test in tests:
        script.tests.setdefault(name, {level: 0 for level in LOG_LEVELS})
    results = {}
    if stopper is not None:
        stopper.attach(None)
    try:
        with cancel_signal(recorder, stopper), change_tracking(request, commit=False):
            with transaction.atomic():
                for name, test in tests:
                    log_line(recorder, LogLevelChoices.INFO, _('Running {test}').format(test=name))
                    script._current_test = name
                    failures = script.tests[name][LogLevelChoices.FAILURE]
                    try:
                        with transaction.atomic():
                            test()
                    except RunCancelled:
                        raise
                    except Exception as exc:
                        # Through Script itself: a legacy Report's log_failure takes (obj, message).
                        BaseScript.log_failure(script, _('{test} raised {error}').format(
                            test=name, error=f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
                        ))
                    finally:
                        script._current_test = None
                    results[name] = script.tests[name][LogLevelChoices.FAILURE] == failures
                raise DryRunRollback()
    except DryRunRollback:
        pass
    except RunCancelled:
        log_line(recorder, LogLevelChoices.WARNING, _('Cancelled while running; all changes were rolled back.'))
        return RunOutcome(RunStatusChoices.CANCELLED, error=_('Cancelled while running.'))
    except JobTimeoutException as exc:
        log_line(recorder, LogLevelChoices.FAILURE, _('The tests exceeded their time limit.'))
        _record_health(run, HealthChoices.FAILING)
        return RunOutcome(RunStatusChoices.TIMED_OUT, error=str(exc) or _('Time limit exceeded.'))
    finally:
        if stopper is not None:
            stopper.finished()
    failed = sorted(name for name, passed in results.items() if not passed)
    summary = _('{passed} of {total} tests passed; all changes were rolled back.').format(
        passed=len(results) - len(failed), total=len(results)
    )
    if failed:
        failing = _('Failing: {names}').format(names=', '.join(failed))
        log_line(recorder, LogLevelChoices.FAILURE, f'{summary} {failing}')
    else:
        log_line(recorder, LogLevelChoices.SUCCESS, summary)
    _record_health(run, HealthChoices.FAILING if failed else HealthChoices.PASSING)
    return RunOutcome(
        RunStatusChoices.FAILED if failed else RunStatusChoices.COMPLETED,
        output=json.dumps({'passed': sorted(set(results) - set(failed)), 'failed': failed}),
        output_format='json',
    )


def companion_tests(script):
    """
    The tests a companion module ships for `script`: module `<module>_tests` (any source), class `<Class>Tests`,
    its `test_*(self, script)` methods, as (name, unbound-to-script callable) pairs. None when there is no such
    module or it does not load.
    """
    companion = ScriptModule.objects.filter(name=f'{script.module.name}_tests').select_related(
        'current_revision'
    ).first()
    if companion is None or not companion.is_runnable:
        return []
    tests_class = getattr(load_revision(companion.current_revision).module, f'{script.class_name}Tests', None)
    if not isinstance(tests_class, type):
        return []
    instance = tests_class()
    return [
        (f'{companion.name}.{tests_class.__name__}.{name}', getattr(instance, name))
        for name in sorted(dir(tests_class)) if name.startswith('test_') and callable(getattr(tests_class, name))
    ]


def _record_health(run, health):
    Script.objects.filter(pk=run.script_id).update(health=health, health_checked=timezone.now())
