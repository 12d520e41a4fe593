"""
Scripts run from Python: `run_script()` for nbshell (same permissions and validation as every entry point, in this
process or queued) and `run_script_in_transaction()` for script authors' tests, which runs inside the test's own
transaction and returns the run with its status, log, output and changes.
"""
import pytest
from dcim.models import Site

from netbox_custom_scripts import run_script
from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import InputError, RunRefused, sync_directory
from netbox_custom_scripts.scripts import IntegerVar, Script, StringVar
from netbox_custom_scripts.testing import run_script_in_transaction

from .utils import make_user


class MakeSites(Script):
    prefix = StringVar()
    count = IntegerVar(min_value=1, max_value=3)

    def run(self, data, commit):
        for i in range(data['count']):
            site = Site.objects.create(name=f'{data["prefix"]}{i}', slug=f'{data["prefix"]}{i}')
            self.log_success('made', site)
        return [s.name for s in Site.objects.filter(name__startswith=data['prefix'])]


class Explodes(Script):
    def run(self, data, commit):
        Site.objects.create(name='boom', slug='boom')
        raise ValueError('boom')


@pytest.mark.django_db
class TestRunInTransaction:
    def test_commit_keeps_changes_until_the_test_ends(self):
        run = run_script_in_transaction(MakeSites, {'prefix': 't', 'count': 2})
        assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
        assert run.output_format == 'json' and '"t0"' in run.output
        assert Site.objects.filter(name__in=['t0', 't1']).count() == 2
        assert [e.message for e in run.log_entries.all()] == ['made', 'made', 'Changes committed.']
        assert run.changes.count() == 2 and run.source == RunSourceChoices.TEST

    def test_dry_run_and_failures_roll_back(self):
        dry = run_script_in_transaction(MakeSites, {'prefix': 'd', 'count': 1}, commit=False)
        assert dry.status == RunStatusChoices.COMPLETED and not Site.objects.filter(name='d0').exists()
        assert dry.changes.get().object_repr == 'd0'
        failed = run_script_in_transaction(Explodes)
        assert failed.status == RunStatusChoices.ERRORED and failed.error == 'ValueError: boom'
        assert not Site.objects.filter(name='boom').exists()

    def test_inputs_are_validated(self):
        with pytest.raises(InputError) as excinfo:
            run_script_in_transaction(MakeSites, {'prefix': 'x', 'count': 9})
        assert 'count' in excinfo.value.message_dict


@pytest.mark.django_db(transaction=True)
class TestRunScript:
    def test_runs_here_as_the_user(self):
        sync_directory()
        make_user('alice', is_superuser=True)
        run = run_script('basic.Hello', data={'who': 'shell'}, user='alice')
        assert run.status == RunStatusChoices.COMPLETED and run.output == 'hello shell'
        assert run.source == RunSourceChoices.NBSHELL and run.user.username == 'alice'

    def test_no_commit_given_means_the_scripts_commit_default(self):
        # The rule of every door: basic.Hello keeps NetBox's default (commit), behaviours.CreateSites says a dry run.
        sync_directory()
        make_user('dora', is_superuser=True)
        assert run_script('basic.Hello', user='dora').commit is True
        run = run_script('behaviours.CreateSites', data={'prefix': 'nb', 'count': 1}, user='dora')
        assert run.status == RunStatusChoices.COMPLETED and run.commit is False
        assert run_script('behaviours.CreateSites', data={'prefix': 'nb', 'count': 1}, user='dora', commit=True).commit

    def test_background_is_queued(self):
        sync_directory()
        user = make_user('bob', is_superuser=True)
        run = run_script('basic.Hello', user=user, background=True)
        assert run.status == RunStatusChoices.PENDING and run.job is not None

    def test_refusals(self):
        sync_directory()
        with pytest.raises(RunRefused, match='Give the user'):
            run_script('basic.Hello', user=None)
        with pytest.raises(RunRefused, match="No user named 'ghost'"):
            run_script('basic.Hello', user='ghost')
        make_user('carol', is_superuser=True)
        with pytest.raises(RunRefused, match="No script named 'basic.Nope'"):
            run_script('basic.Nope', user='carol')


@pytest.mark.django_db(transaction=True)
def test_run_script_takes_the_declared_run_options_and_refuses_others():
    from netbox_custom_scripts.choices import NotificationChoices

    sync_directory()
    make_user('erin', is_superuser=True)
    run = run_script('basic.Hello', user='erin', notifications=NotificationChoices.NEVER)
    assert run.notifications == NotificationChoices.NEVER
    with pytest.raises(TypeError):
        run_script('basic.Hello', user='erin', notifcations='never')  # the typo
