"""
Contract: an exception raised anywhere in a script - before or after its database writes, inside nested savepoints,
in a signal handler its writes trigger, or an AbortScript - ends the run, executed by a real worker, as *errored*
(message and traceback) or *aborted* (message, no traceback), with its core Job errored or failed; none of its
writes survives (the touched tables are row-for-row unchanged, no change-log entry of its request remains), for
committed and dry runs alike; and its log keeps every line up to the fault, followed by the rollback notice. The
fault points are drawn with a seeded random generator (NBCS_RELIABILITY_SEED overrides the seed).
"""
import itertools
import os
import random

import pytest
from core.models import ObjectChange

from netbox_custom_scripts.choices import RunStatusChoices

from .helpers import BASE_IPS, BASE_SITES, assert_subsequence, fingerprint, finished, log_messages, submit

pytestmark = pytest.mark.django_db(transaction=True)

SEED = int(os.environ.get('NBCS_RELIABILITY_SEED', '20261127'))
PLANS = 16
FAULT_KINDS = ('exception', 'abort', 'integrity', 'signal')


def random_plan(rng, number):
    """A plan with writes, maybe a savepoint failure the script catches, 0-3 nested savepoints and one fault."""
    tag = f'r{number}'
    names = itertools.count()
    deletable = list(BASE_IPS)
    rng.shuffle(deletable)

    def write():
        n = next(names)
        op = rng.choice(('site', 'ip', 'update', 'delete_ip'))
        if op == 'site':
            return ['site', f'{tag}-site-{n}']
        if op == 'update':
            return ['update', rng.choice(BASE_SITES), f'{tag} update {n}']
        if op == 'delete_ip' and deletable:
            return ['delete_ip', deletable.pop()]
        return ['ip', f'10.{number}.{n}.1/24']

    steps = [write() for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.4:
        caught = [write() for _ in range(rng.randint(0, 2))]
        caught.append(['raise', rng.choice(('exception', 'integrity')), f'{tag} caught'])
        steps.insert(rng.randint(0, len(steps)), ['catch', caught])
    container = steps
    for _ in range(rng.randint(0, 3)):
        inner = [write() for _ in range(rng.randint(0, 2))]
        container.append(['savepoint', inner])
        container = inner
    kind = rng.choice(FAULT_KINDS)
    message = f'{tag} injected {kind}'
    fault = ['signal', f'{tag}-signalled', message] if kind == 'signal' else ['raise', kind, message]
    container.insert(rng.randint(0, len(container)), fault)
    steps.append(write())  # never reached
    return steps, kind, message


def expected_log(steps, path=''):
    """The step labels the script logs before the fault (and whether it faulted), mirroring faults.Plan."""
    labels = []
    for index, (op, *args) in enumerate(steps):
        labels.append(f'{path}{index} {op}')
        if op in ('savepoint', 'catch'):
            inner, faulted = expected_log(args[0], f'{path}{index}.')
            labels += inner
            if faulted and op == 'savepoint':
                return labels, True
        elif op in ('raise', 'signal'):
            return labels, True
    return labels, False


def test_exceptions_at_random_points_roll_back_everything(rq_worker, baseline, admin):
    rng = random.Random(SEED)
    cases = []
    for number in range(PLANS):
        steps, kind, message = random_plan(rng, number)
        commit = number % 3 != 2  # every third run is a dry run
        cases.append((steps, kind, message, commit, submit('Plan', admin, commit=commit, plan=steps)))

    for steps, kind, message, commit, run in cases:
        context = f'seed {SEED}, run {run.pk}, commit={commit}, plan {steps}'
        run = finished(run, timeout=300)
        if kind == 'abort':
            assert run.status == RunStatusChoices.ABORTED, (context, run.error, run.traceback)
            assert run.error == message and not run.traceback, context
            assert run.job.status == 'failed', context
        else:
            assert run.status == RunStatusChoices.ERRORED, (context, run.error, run.traceback)
            expected_error = 'IntegrityError' if kind == 'integrity' else f'InjectedFault: {message}'
            assert run.error.startswith(expected_error), (context, run.error)
            assert (message if kind != 'integrity' else 'IntegrityError') in run.traceback, context
            assert run.job.status == 'errored', context
        assert not ObjectChange.objects.filter(request_id=run.request_id).exists(), context

        labels, faulted = expected_log(steps)
        assert faulted
        messages = log_messages(run)
        if kind == 'abort':
            tail = [f'Aborted: {message}']
        else:
            tail = ['All changes were rolled back.']
        assert_subsequence(labels + tail, messages)

    assert fingerprint() == baseline, f'seed {SEED}: a failed run left writes behind'
