"""
The netbox-branching suite: NetBox with netbox_custom_scripts and netbox_branching (the last plugin), on a database
migrated with both. `make test` runs it as a second pytest invocation (develop/devctl.py sets NB_PLUGINS); on a
NetBox without branching, every test here is skipped.
"""
import pytest
from django.apps import apps

from netbox_custom_scripts.execution import sync_directory

from ..utils import make_user

# Collected only on a NetBox with branching in PLUGINS (make test runs this suite so).
if not apps.is_installed('netbox_branching'):
    collect_ignore_glob = ['test_*.py']


@pytest.fixture
def admin(admin):
    sync_directory()
    return admin


@pytest.fixture
def make_branch(admin):
    """A provisioned, ready branch (provisioned here: the suite's worker need not be running)."""
    from netbox_branching.models import Branch

    def make(name='staging', owner=None):
        branch = Branch(name=name, owner=owner or admin)
        branch.full_clean()
        branch.save(provision=False)
        branch.provision(user=owner or admin)
        branch.refresh_from_db()
        assert branch.ready, branch.status
        return branch

    return make


@pytest.fixture
def branch(make_branch):
    return make_branch()


@pytest.fixture
def runner(admin):
    """May run the plugin's scripts and commit, schedule them, change sites, and see branches: a branch user."""
    from dcim.models import Site
    from netbox_branching.models import Branch

    from netbox_custom_scripts.models import Schedule, Script, ScriptRun

    return make_user('runner', (Script, ['view', 'run', 'commit']), (ScriptRun, ['view']),
                     (Schedule, ['view', 'add', 'change']), (Site, ['view', 'add', 'change']), (Branch, ['view']))
