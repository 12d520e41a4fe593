"""
A realistic stock NetBox installation of built-in scripts, built with NetBox's own models and storage: uploaded
modules in the `scripts` storage (one importing a helper module of the scripts root), a Data Source module with
auto-sync, constrained permissions for a group and a user, event rules, an interval schedule and a one-off scheduled
run, and finished jobs with logs (run by stock ScriptJob).
"""
import datetime
import textwrap
from types import SimpleNamespace

from core.models import DataFile, DataSource, Job, ObjectType
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from extras.jobs import ScriptJob
from extras.models import EventRule
from extras.models import Script as BuiltinScript
from extras.models import ScriptModule as BuiltinModule
from users.models import Group, ObjectPermission, User

INVENTORY = textwrap.dedent("""\
    from dcim.models import Site
    from extras.scripts import IntegerVar, Script, StringVar

    name = 'Inventory'


    class NewSite(Script):
        site_name = StringVar(description='Name of the new site')
        racks = IntegerVar(default=2)

        class Meta:
            name = 'New site'
            commit_default = False

        def run(self, data, commit):
            site = Site(name=data['site_name'], slug=data['site_name'].lower())
            site.full_clean()
            site.save()
            self.log_success(f"Created site {site.name}", site)
            self.log_info(f"{data['racks']} racks planned")
            return f"site={site.name} racks={data['racks']}"


    class Audit(Script):
        def run(self, data, commit):
            self.log_warning('2 sites have no region')
            self.log_failure('site X has no tenant')
            return 'audit done'
""")

HELPERS = textwrap.dedent("""\
    def shout(text):
        return text.upper() + '!'
""")

CABLING = textwrap.dedent("""\
    from extras.scripts import Script, StringVar
    from netops_helpers import shout


    class Announce(Script):
        message = StringVar()

        def run(self, data, commit):
            self.log_info(shout(data['message']))
            return shout(data['message'])
""")

SYNCED = textwrap.dedent("""\
    from extras.scripts import Script


    class Ping(Script):
        class Meta:
            description = 'Checks reachability'

        def run(self, data, commit):
            self.log_success('pong')
            return 'pong'
""")


def upload(name, code):
    storages['scripts'].save(name, ContentFile(code.encode()))
    module = BuiltinModule(file_root='scripts', file_path=name)
    module.save()
    return module


def run_builtin(script, user, data, commit=False):
    """Run a built-in script the way a stock worker does (ScriptJob.handle), here; returns the finished Job."""
    job = Job.objects.create(
        object_type=ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False), object_id=script.pk,
        name=script.name, user=user, job_id=__import__('uuid').uuid4(), status='pending',
    )
    ScriptJob.handle(job, data=dict(data), commit=commit)
    job.refresh_from_db()
    return job


def builtin_script(module_path, name):
    return BuiltinScript.objects.get(module__file_path=module_path, name=name)


def build(tmp_path, capture_on_commit):
    """Create the installation; returns a namespace with its users, modules, rules and jobs."""
    ns = SimpleNamespace()
    ns.admin = User.objects.create_user('admin', is_superuser=True)
    ns.alice = User.objects.create_user('alice')
    ns.carol = User.objects.create_user('carol')   # in the NOC group
    ns.noc = Group.objects.create(name='noc')
    ns.carol.groups.add(ns.noc)

    ns.inventory = upload('inventory.py', INVENTORY)
    ns.helpers = upload('netops_helpers.py', HELPERS)
    ns.cabling = upload('cabling.py', CABLING)

    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'synced.py').write_text(SYNCED)
    ns.data_source = DataSource(name='scripts-repo', type='local', source_url=f'file://{repo}')
    ns.data_source.full_clean()
    ns.data_source.save()
    ns.data_source.sync()
    data_file = DataFile.objects.get(source=ns.data_source, path='synced.py')
    ns.synced = BuiltinModule(
        file_root='scripts', data_source=ns.data_source, data_file=data_file, data_path='synced.py',
        auto_sync_enabled=True,
    )
    ns.synced.clean()
    ns.synced.sync_data()
    ns.synced.save()
    assert sorted(BuiltinScript.objects.values_list('name', flat=True)) == ['Announce', 'Audit', 'NewSite', 'Ping']

    script_type = ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False)

    def permission(name, actions, constraints, users=(), groups=()):
        grant = ObjectPermission.objects.create(name=name, actions=actions, constraints=constraints)
        grant.object_types.add(script_type)
        grant.users.set(users)
        grant.groups.set(groups)
        return grant

    ns.perm_noc = permission('NOC run', ['view', 'run'], {'name': 'NewSite'}, groups=[ns.noc])
    ns.perm_alice = permission(
        'Alice scripts', ['view', 'run'], [{'module__file_path': 'inventory.py'}, {'name': 'Ping'}], users=[ns.alice])
    # Would widen: `is_executable` has no counterpart on plugin scripts.
    ns.perm_wide = permission(
        'Executable only', ['run'], [{'name': 'Audit'}, {'is_executable': True}], users=[ns.carol])

    site_type = ObjectType.objects.get(app_label='dcim', model='site')
    ns.rule = EventRule(
        name='Audit on new site', event_types=['object_created'], action_type='script',
        action_object_type=script_type, action_object_id=builtin_script('inventory.py', 'Audit').pk,
        action_data={}, description='audits',
    )
    ns.rule.save()
    ns.rule.object_types.set([site_type])
    # Its last editor, from the change log: alice (who may run inventory's scripts).
    change = ns.rule.to_objectchange('update')
    change.user = ns.alice
    change.user_name = ns.alice.username
    change.request_id = __import__('uuid').uuid4()
    change.save()

    later = timezone.now() + datetime.timedelta(days=1)
    with capture_on_commit(execute=True):
        ns.interval_job = ScriptJob.enqueue(
            instance=builtin_script('synced.py', 'Ping'), user=ns.alice, schedule_at=later, interval=60, data={},
            commit=True, name='Ping',
        )
        ns.once_job = ScriptJob.enqueue(
            instance=builtin_script('inventory.py', 'NewSite'), user=ns.admin, schedule_at=later,
            data={'site_name': 'later', 'racks': 4}, commit=False, name='New site',
        )
    ns.finished_job = run_builtin(builtin_script('inventory.py', 'Audit'), ns.admin, {}, commit=True)
    return ns
