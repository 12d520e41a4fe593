"""
Fixtures of the reliability suite: the fixture scripts (tests/fixtures/reliability, synced on their own) with the
shared admin, a committed baseline of sites and IP addresses the scripts update and delete, and worker processes
the tests start and stop themselves. The plain helpers are in helpers.py.
"""
import pytest
from core.choices import JobStatusChoices
from core.models import Job
from dcim.models import Site
from django.db import connections
from ipam.models import IPAddress
from netbox.search.jobs import SearchCacheJob

from netbox_custom_scripts.execution import sync_directory

from ..utils import wait_for
from .helpers import BASE_IPS, BASE_SITES, FIXTURES, fingerprint, kill_tree, spawn_worker, stop_tree


@pytest.fixture
def admin(admin):
    """The reliability scripts registered (on their own: other directory modules are marked missing), and a user."""
    result = sync_directory(root=FIXTURES, force=True)
    assert not result.errors, result.errors
    return admin


@pytest.fixture
def baseline(admin, rq_worker):
    """Committed rows for the scripts to update and delete; returns the fingerprint of the touched tables."""
    for name in BASE_SITES:
        Site.objects.create(name=name, slug=name, description='baseline')
    for address in BASE_IPS:
        IPAddress.objects.create(address=address)
    # NetBox indexes them for search in a background job: the baseline is the state after it.
    wait_for(lambda: not Job.objects.filter(name=SearchCacheJob.name).exclude(
        status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).exists(), timeout=30, message='the search cache job')
    result = fingerprint()
    assert result['extras_cachedvalue'][0] >= len(BASE_SITES) + len(BASE_IPS), result
    return result


@pytest.fixture
def workers():
    """Start worker processes with `workers.start(*queues, env=...)`; every one is stopped at the end of the test."""
    started = []

    class Workers:
        @staticmethod
        def start(*queues, env=None, name='worker'):
            process = spawn_worker(*queues, env=env, name=name)
            started.append(process)
            return process

        @staticmethod
        def kill(process):
            kill_tree(process)

    yield Workers
    for process in started:
        stop_tree(process)
    connections.close_all()
