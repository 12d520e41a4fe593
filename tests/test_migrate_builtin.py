"""
Moving a stock installation off the built-in scripts (migrate_builtin): plan, apply, verify, a second apply,
the migrated scripts' dry runs against stock's, cleanup - and the careless user.
"""
import threading

import pytest
from core.models import Job
from django.apps import apps
from django.db import connection
from extras.models import EventRule
from extras.models import ScriptModule as BuiltinModule
from users.models import ObjectPermission, User

from netbox_custom_scripts.choices import ModuleSourceChoices, RunSourceChoices
from netbox_custom_scripts.execution import get_script_class, run_script_in_transaction
from netbox_custom_scripts.migrate_builtin import (
    MigrationRefused,
    apply_plan,
    build_plan,
    cleanup,
    may_migrate,
    verify,
)
from netbox_custom_scripts.models import EventRuleOwner, Schedule, Script, ScriptModule, ScriptRun

from . import builtin_installation as stock
from .utils import cli

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def scripts_storage(settings, tmp_path, monkeypatch):
    """NetBox's `scripts` storage on a directory of this test's own, on sys.path as an installation with helper
    modules has it (stock NetBox imports `netops_helpers` from there)."""
    root = tmp_path / 'netbox-scripts'
    root.mkdir()
    settings.SCRIPTS_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        'scripts': {'BACKEND': 'extras.storage.ScriptFileSystemStorage', 'OPTIONS': {'allow_overwrite': True}},
    }
    monkeypatch.syspath_prepend(str(root))
    yield root
    import sys

    sys.modules.pop('netops_helpers', None)


@pytest.fixture
def installation(tmp_path, django_capture_on_commit_callbacks):
    return stock.build(tmp_path, django_capture_on_commit_callbacks)


def row_counts():
    """Rows of every model of NetBox and the plugin (what a plan must not change)."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy}


def apply(user, capture, **kwargs):
    with capture(execute=True):
        return apply_plan(user, **kwargs)


def test_plan_changes_nothing_and_says_what_it_would_do(installation):
    before = row_counts()
    plan = build_plan(history=True)
    assert row_counts() == before
    data = plan.to_dict()
    assert set(data) == {'items', 'summary', 'can_apply'} and data['can_apply']
    assert all(set(item) == {'kind', 'builtin', 'builtin_id', 'module', 'action', 'target', 'reason'}
               for item in data['items'])
    by_kind = {}
    for item in plan.items:
        by_kind.setdefault(item.kind, []).append(item)
    assert {(i.module, i.action) for i in by_kind['module']} == {
        ('inventory', 'move'), ('netops_helpers', 'move'), ('cabling', 'move'), ('synced', 'link')}
    # Helpers first: cabling imports netops_helpers.
    names = [i.module for i in by_kind['module']]
    assert names.index('netops_helpers') < names.index('cabling')
    wide = [i for i in by_kind['permission'] if i.builtin_id == installation.perm_wide.pk]
    assert [i.action for i in wide] == ['cannot_move'] and 'is_executable' in wide[0].reason
    [rule] = by_kind['event_rule']
    assert rule.action == 'repoint' and 'alice' in rule.reason
    assert sorted(i.action for i in by_kind['schedule']) == ['move', 'move']
    assert [i.action for i in by_kind['history']] == ['copy']


def test_apply_verify_second_apply_and_cleanup(installation, django_capture_on_commit_callbacks):
    admin = installation.admin
    result = apply(admin, django_capture_on_commit_callbacks, history=True)
    assert result.failed == {}, result.failed
    assert sorted(result.moved) == ['cabling', 'inventory', 'netops_helpers', 'synced']

    # Modules: same names and code; the data-source one on the same data file with the same auto-sync.
    synced = ScriptModule.objects.get(name='synced')
    assert synced.source == ModuleSourceChoices.DATA_SOURCE
    assert synced.data_file_id == installation.synced.data_file_id and synced.auto_sync_enabled
    assert ScriptModule.objects.get(name='inventory').current_revision.source_code == stock.INVENTORY
    assert set(Script.objects.values_list('module__name', 'class_name')) == {
        ('inventory', 'NewSite'), ('inventory', 'Audit'), ('cabling', 'Announce'), ('synced', 'Ping')}

    # Permissions: the same users and groups, pinned to their module, never wider.
    noc = ObjectPermission.objects.get(name='NOC run (inventory)')
    assert noc.constraints == {'module__name': 'inventory', 'class_name__in': ['NewSite']}
    assert list(noc.groups.all()) == [installation.noc] and sorted(noc.actions) == ['run', 'view']
    carol, alice = installation.carol, installation.alice
    assert set(Script.objects.restrict(carol, 'run').values_list('class_name', flat=True)) == {'NewSite'}
    assert set(Script.objects.restrict(alice, 'run').values_list('class_name', flat=True)) == {
        'NewSite', 'Audit', 'Ping'}
    assert not ObjectPermission.objects.filter(name__startswith='Executable only (').exists()

    # Event rule: a copy on the plugin's action, owned by its last editor; the original disabled.
    installation.rule.refresh_from_db()
    assert not installation.rule.enabled
    copy = EventRule.objects.get(name='Audit on new site (custom scripts)')
    assert copy.action_type == 'netbox_custom_scripts.run_script' and copy.enabled
    assert copy.action_object == Script.objects.get(class_name='Audit')
    assert copy.action_data == {'commit': True}
    assert EventRuleOwner.objects.get(event_rule=copy).user == alice

    # Schedules: same time, interval, user, inputs; the built-in jobs gone.
    assert not Job.objects.filter(pk__in=[installation.interval_job.pk, installation.once_job.pk]).exists()
    every = Schedule.objects.get(script__class_name='Ping')
    assert (every.interval, every.user, every.commit) == (60, alice, True)
    assert every.start_at == installation.interval_job.scheduled
    once = Schedule.objects.get(script__class_name='NewSite')
    assert once.inputs == {'site_name': 'later', 'racks': 4} and once.user == installation.admin
    assert not once.commit and once.start_at == installation.once_job.scheduled

    # History: the finished job as an imported run with its log and output.
    run = ScriptRun.objects.get(imported_job_id=installation.finished_job.pk)
    assert run.source == RunSourceChoices.IMPORTED and run.status == 'completed' and run.output == 'audit done'
    assert [(e.level, e.message) for e in run.log_entries.all()][:2] == [
        ('warning', '2 sites have no region'), ('failure', 'site X has no tenant')]
    assert run.commit and run.user == admin and run.completed == installation.finished_job.completed

    report = verify()
    assert report.ok, report.problems

    before = row_counts()
    again = apply(admin, django_capture_on_commit_callbacks, history=True)
    assert again.moved == [] and again.failed == {} and sorted(again.unchanged) == sorted(result.moved)
    assert row_counts() == before
    assert {item.action for item in build_plan(history=True).items if item.module} == {'already_done'}

    done = cleanup(admin)
    assert sorted(done.modules) == ['cabling', 'inventory', 'netops_helpers', 'synced']
    assert not BuiltinModule.objects.exists() and not EventRule.objects.filter(action_type='script').exists()
    assert done.kept_permissions == ['Executable only']
    with pytest.raises(MigrationRefused, match='Nothing to clean up'):
        cleanup(admin)
    # The migrated scripts still run after the built-in side is gone, helper import included.
    announce = run_script_in_transaction(
        get_script_class(Script.objects.get(class_name='Announce')), {'message': 'hi'}, user=admin, commit=False)
    assert announce.status == 'completed' and announce.output == 'HI!'


def test_each_migrated_script_dry_runs_as_the_builtin_did(installation, django_capture_on_commit_callbacks):
    admin = installation.admin
    cases = [
        ('inventory.py', 'NewSite', {'site_name': 'ams1', 'racks': 3}),
        ('inventory.py', 'Audit', {}),
        ('cabling.py', 'Announce', {'message': 'cable cut'}),
        ('synced.py', 'Ping', {}),
    ]
    builtin_results = {}
    for path, name, data in cases:
        job = stock.run_builtin(stock.builtin_script(path, name), admin, data, commit=False)
        builtin_results[name] = job
    apply(admin, django_capture_on_commit_callbacks)
    for path, name, data in cases:
        job = builtin_results[name]
        module = path[:-3]
        script = Script.objects.get(module__name=module, class_name=name)
        run = run_script_in_transaction(get_script_class(script), data, user=admin, commit=False)
        stock_log = [(line['status'], line['message']) for line in job.data['log']
                     if 'reverted' not in line['message']]
        plugin_log = [(e.level, e.message) for e in run.log_entries.all() if 'reverted' not in e.message
                      and 'rolled back' not in e.message]
        assert plugin_log[:len(stock_log)] == stock_log, name
        assert run.output == job.data['output'], name
        assert job.status == 'completed'


def test_a_module_that_fails_part_way_is_left_untouched(installation, django_capture_on_commit_callbacks):
    # The event rule's action data names an input the script does not have: its copy is refused after the module
    # and its permissions were already written - all of which must roll back.
    EventRule.objects.filter(pk=installation.rule.pk).update(action_data={'no_such_input': 1})
    permissions_before = ObjectPermission.objects.count()
    result = apply(installation.admin, django_capture_on_commit_callbacks)
    assert 'inventory' in result.failed and 'no_such_input' in result.failed['inventory']
    assert sorted(result.moved) == ['cabling', 'netops_helpers', 'synced']
    assert not ScriptModule.objects.filter(name='inventory').exists()
    assert not Script.objects.filter(class_name__in=['NewSite', 'Audit']).exists()
    assert not ObjectPermission.objects.filter(name__endswith='(inventory)').exists()
    assert ObjectPermission.objects.count() == permissions_before + 1  # alice's, for synced.Ping
    assert Job.objects.filter(pk=installation.once_job.pk).exists()   # its schedule stays on the built-in
    installation.rule.refresh_from_db()
    assert installation.rule.enabled
    assert not verify().ok
    with pytest.raises(MigrationRefused, match='verified apply'):
        cleanup(installation.admin)
    assert BuiltinModule.objects.count() == 4


def test_cleanup_before_verify_is_refused(installation):
    with pytest.raises(MigrationRefused, match='verified apply'):
        cleanup(installation.admin)
    assert BuiltinModule.objects.count() == 4 and installation.rule.enabled


def test_only_with_a_typo_changes_nothing(installation, django_capture_on_commit_callbacks):
    before = row_counts()
    with pytest.raises(MigrationRefused, match="No built-in script module named 'inventroy'"):
        apply(installation.admin, django_capture_on_commit_callbacks, only=['inventroy', 'synced'])
    with pytest.raises(MigrationRefused):
        build_plan(only=['inventroy'])
    assert row_counts() == before
    status, out, err = cli('migrate-builtin', '--apply', '--only', 'inventroy', '--user', 'admin')
    assert status == 10 and 'inventroy' in err
    assert row_counts() == before


def test_only_moves_just_that_module(installation, django_capture_on_commit_callbacks):
    result = apply(installation.admin, django_capture_on_commit_callbacks, only=['synced'])
    assert result.moved == ['synced'] and list(ScriptModule.objects.values_list('name', flat=True)) == ['synced']
    assert verify(only=['synced']).ok and not verify().ok


def test_a_user_without_the_permission_is_refused(installation, django_capture_on_commit_callbacks):
    before = row_counts()
    assert not may_migrate(installation.alice) and may_migrate(installation.admin)
    with pytest.raises(MigrationRefused, match='migrate'):
        apply(installation.alice, django_capture_on_commit_callbacks)
    with pytest.raises(MigrationRefused):
        cleanup(installation.alice)
    status, out, err = cli('migrate-builtin', '--apply', '--user', 'alice')
    assert status == 10 and 'may not move' in err
    assert row_counts() == before


def test_the_migrate_action_is_enough(installation, django_capture_on_commit_callbacks):
    from .utils import make_user

    migrator = make_user('migrator', (ScriptModule, ['migrate']))
    assert may_migrate(migrator)
    assert not apply(migrator, django_capture_on_commit_callbacks).failed


def test_cli_plan_json_verify_and_exit_statuses(installation):
    status, out, err = cli('migrate-builtin', '--json')
    import json

    assert status == 0 and json.loads(out)['can_apply']
    status, out, err = cli('migrate-builtin', '--verify')
    assert status == 13 and 'not moved yet' in out
    status, out, err = cli('migrate-builtin', '--apply')
    assert status == 10 and '--user' in err
    status, out, err = cli('migrate-builtin', '--cleanup', '--user', 'admin')
    assert status == 10 and 'verified apply' in err


@pytest.mark.django_db(transaction=True)
def test_two_applies_at_once_move_everything_once(tmp_path):
    from contextlib import contextmanager


    @contextmanager
    def run_on_commit(execute=True):
        yield []

    ns = stock.build(tmp_path, run_on_commit)
    results, errors = [], []

    def worker():
        try:
            results.append(apply_plan(User.objects.get(pk=ns.admin.pk)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert sorted(len(r.moved) for r in results) == [0, 4]
    assert ScriptModule.objects.count() == 4
    assert EventRule.objects.filter(name__endswith='(custom scripts)').count() == 1
    assert ObjectPermission.objects.filter(description__startswith='Moved from built-in').count() == 3
    assert verify().ok


def test_permission_changes_after_apply_are_carried_over(installation, django_capture_on_commit_callbacks):
    """A built-in permission revoked or narrowed after the apply must not stay granted on the plugin side."""
    admin, alice, carol = installation.admin, installation.alice, installation.carol
    apply(admin, django_capture_on_commit_callbacks)
    assert verify().ok
    assert Script.objects.restrict(alice, 'run').exists() and Script.objects.restrict(carol, 'run').exists()

    # On the built-in side: alice's permission disabled, carol's group narrowed to a script that does not exist.
    installation.perm_alice.enabled = False
    installation.perm_alice.save()
    installation.perm_noc.constraints = {'name': 'NoSuchScript'}
    installation.perm_noc.save()
    # And someone widens a copy by hand.
    ObjectPermission.objects.filter(name='NOC run (inventory)').update(actions=['view', 'run', 'commit'])

    report = verify()
    assert not report.ok
    assert any('NOC run (inventory)' in problem for problem in report.problems), report.problems
    with pytest.raises(MigrationRefused, match='verified apply'):
        cleanup(admin)
    actions = {(item.builtin, item.action) for item in build_plan().items if item.kind == 'permission'}
    assert ("copy 'NOC run (inventory)'", 'remove') in actions
    assert ("permission 'Alice scripts'", 'update') in actions

    apply(admin, django_capture_on_commit_callbacks)
    alice, carol = User.objects.get(pk=alice.pk), User.objects.get(pk=carol.pk)  # fresh permission caches
    assert not Script.objects.restrict(alice, 'run').exists()
    assert not Script.objects.restrict(carol, 'run').filter(class_name='NewSite').exists()
    assert not ObjectPermission.objects.filter(name='NOC run (inventory)').exists()
    assert verify().ok


SIDE_EFFECT = """
from extras.models import Tag
from extras.scripts import Script

Tag.objects.get_or_create(name='written at import', slug='written-at-import')


class Noop(Script):
    def run(self, data, commit):
        return 'noop'
"""


def test_planning_rolls_back_what_module_code_writes_at_import(installation):
    stock.upload('sidefx.py', SIDE_EFFECT)
    from extras.models import Tag

    Tag.objects.filter(slug='written-at-import').delete()
    before = row_counts()
    plan = build_plan(only=['sidefx'])
    assert plan.items[0].action == 'move'
    verify(only=['sidefx'])
    assert not Tag.objects.filter(slug='written-at-import').exists()
    assert row_counts() == before


SECRET_SCHEDULE = """
from extras.scripts import Script, StringVar


class Rotate(Script):
    token = StringVar()
    device = StringVar()

    class Meta:
        sensitive_variables = ['token']

    def run(self, data, commit):
        return data['device']
"""


def test_a_schedule_with_secret_inputs_stays_and_the_plan_never_shows_the_secret(installation,
                                                                                  django_capture_on_commit_callbacks):
    from django.utils import timezone
    from extras.jobs import ScriptJob

    stock.upload('rotate.py', SECRET_SCHEDULE)
    with django_capture_on_commit_callbacks(execute=True):
        job = ScriptJob.enqueue(
            instance=stock.builtin_script('rotate.py', 'Rotate'), user=installation.admin,
            schedule_at=timezone.now() + __import__('datetime').timedelta(days=1), interval=60,
            data={'token': 'SCHED-SECRET-77', 'device': 'sw1'}, commit=True, name='Rotate',
        )
    plan = build_plan(only=['rotate'])
    item = next(item for item in plan.items if item.kind == 'schedule')
    assert item.action == 'cannot_move' and 'secret variables (token)' in item.reason
    assert 'SCHED-SECRET-77' not in str(plan.to_dict())
    status, out, err = cli('migrate-builtin', '--json', '--only', 'rotate')
    assert 'SCHED-SECRET-77' not in out + err
    result = apply(installation.admin, django_capture_on_commit_callbacks, only=['rotate'])
    assert result.failed == {} and Job.objects.filter(pk=job.pk).exists()  # the module moved; the job stays
    assert not Schedule.objects.filter(script__class_name='Rotate').exists()


@pytest.mark.django_db(transaction=True)
def test_an_imported_run_cannot_be_run_again(installation):
    from netbox_custom_scripts.execution import RunRefused, rerun

    result = apply_plan(installation.admin, history=True)
    assert not result.failed
    imported = ScriptRun.objects.get(imported_job_id=installation.finished_job.pk)
    before = ScriptRun.objects.count()
    with pytest.raises(RunRefused, match='imported from built-in scripts'):
        rerun(imported, user=installation.admin, source=RunSourceChoices.API)
    assert ScriptRun.objects.count() == before


def test_a_constrained_migrate_grant_is_not_enough(installation, django_capture_on_commit_callbacks):
    from .utils import make_user

    nora = make_user('nora')
    grant = ObjectPermission.objects.create(name='nora migrate', actions=['migrate'],
                                            constraints={'name': 'nothing-matches'})
    grant.object_types.add(__import__('core.models', fromlist=['ObjectType']).ObjectType.objects.get_for_model(
        ScriptModule))
    grant.users.add(nora)
    nora = User.objects.get(pk=nora.pk)
    assert not may_migrate(nora)
    before = row_counts()
    with pytest.raises(MigrationRefused):
        apply(nora, django_capture_on_commit_callbacks)
    status, out, err = cli('migrate-builtin', '--plan', '--user', 'nora')
    assert status == 10 and 'may not move' in err
    assert row_counts() == before


def test_cli_refuses_options_that_do_not_go_with_the_mode(installation):
    too_many = ['--only', *[f'm{i}' for i in range(1001)]]
    for args in (['--plan', '--discard-history'], ['--verify', '--history'], too_many,
                 ['--verify', '--user', 'nobody-by-that-name']):
        status, out, err = cli('migrate-builtin', *args)
        assert status == 10, (args, status, err)


def test_an_event_rule_copy_edited_after_apply_fails_verify_and_is_brought_back(installation,
                                                                                django_capture_on_commit_callbacks):
    admin = installation.admin
    apply(admin, django_capture_on_commit_callbacks)
    copy = EventRule.objects.get(name='Audit on new site (custom scripts)')
    expected = (copy.conditions, list(copy.event_types))
    copy.conditions = {'attr': 'name', 'value': 'never-matches'}
    copy.event_types = ['object_deleted']
    copy.save()
    report = verify()
    assert not report.ok and any('Audit on new site' in problem for problem in report.problems), report.problems
    with pytest.raises(MigrationRefused):
        cleanup(admin)
    apply(admin, django_capture_on_commit_callbacks)
    copy.refresh_from_db()
    assert (copy.conditions, list(copy.event_types)) == expected
    assert EventRuleOwner.objects.get(event_rule=copy).user == installation.alice  # the owner stays
    assert verify().ok


def test_a_recurring_job_running_during_apply_keeps_verify_failing(installation, django_capture_on_commit_callbacks):
    from django.utils import timezone

    running = Job.objects.create(
        object_type=installation.interval_job.object_type, object_id=installation.interval_job.object_id,
        name='Ping', user=installation.alice, job_id=__import__('uuid').uuid4(), status='running', interval=60,
        started=timezone.now(),
    )
    apply(installation.admin, django_capture_on_commit_callbacks)
    item = next(item for item in build_plan().items if item.kind == 'schedule' and item.builtin_id == running.pk)
    assert item.action == 'cannot_move' and 'running now' in item.reason
    report = verify()
    assert not report.ok
    with pytest.raises(MigrationRefused):
        cleanup(installation.admin)
    # Once it has finished (and NetBox queued its next occurrence as a new job), verify no longer holds it back.
    Job.objects.filter(pk=running.pk).update(status='completed', completed=timezone.now())
    assert verify().ok
