"""
Shared pieces of the security suite: the roles of the permission matrix, the world of objects the matrix acts on,
a snapshot of everything a refused request must leave alone, and the fixture script modules of
tests/fixtures/security (registered as uploads, so that the scripts directory sync of the pages never marks them
missing).

The roles, each a NetBox user holding ObjectPermissions only (DEFAULT_PERMISSIONS is empty in develop/):

- anonymous: no session, no token;
- viewer: `view` on scripts, script modules, runs and schedules;
- runner: `view` and `run` on exactly one script (constraint {"class_name": "Hello"}) and `view` on their own runs
  (constraint {"user": "$user"}), as docs/configuration.md suggests;
- editor: `view`, `add`, `change` and `delete` on script modules (and `view` on data sources and their files, to
  pick one);
- admin: a superuser.
"""
import os
import secrets
import uuid
from dataclasses import dataclass, field

import pytest
from core.models import DataFile, DataSource, Job, ObjectChange, ObjectType
from django.db.models import Max
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from users.models import ObjectPermission, User

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import register_data_file, save_source, sync_directory, upload_path
from netbox_custom_scripts.execution.sources.data_file import stage_revision
from netbox_custom_scripts.models import (
    ModuleRevision,
    RunChange,
    RunFile,
    RunLogEntry,
    Schedule,
    Script,
    ScriptModule,
    ScriptRun,
)
from netbox_custom_scripts.models.modules import content_hash

from ..utils import token_header

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'security')

ROLES = ('anonymous', 'viewer', 'runner', 'editor', 'admin')

UI = '/plugins/custom-scripts'
API = '/api/plugins/custom-scripts'

# A module the editor uploads and the admin deletes: one script, no inputs.
SMALL_MODULE = """\
from netbox_custom_scripts.scripts import Script


class Small(Script):
    def run(self, data, commit):
        self.log_info('small')
"""


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Role users are created for every test; PBKDF2 would cost half a second each.
    settings.PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']


def fixture_source(filename):
    with open(os.path.join(FIXTURES, filename), encoding='utf-8') as f:
        return f.read()


def register_fixture(name, filename, user=None):
    """A fixture module of tests/fixtures/security, registered as an upload under `name` (no file is written)."""
    return save_source(
        name, fixture_source(filename), source=ModuleSourceChoices.UPLOAD, file_path=upload_path(name),
        user=user, reject_invalid=True,
    )


def make_role_user(username, *grants, is_superuser=False):
    """A user with ObjectPermissions; each grant is (model, actions) or (model, actions, constraints)."""
    user = User.objects.create_user(username=username, password=f'pw-{username}', is_superuser=is_superuser)
    for index, (model, actions, *constraints) in enumerate(grants):
        permission = ObjectPermission.objects.create(
            name=f'{username}-{index}', actions=list(actions), constraints=constraints[0] if constraints else None,
        )
        permission.object_types.add(ObjectType.objects.get_for_model(model))
        permission.users.add(user)
    return user


def make_roles(prefix='sec'):
    """The users of the matrix's roles, by role name (anonymous: None)."""
    return {
        'anonymous': None,
        'viewer': make_role_user(
            f'{prefix}-viewer',
            (Script, ['view']), (ScriptModule, ['view']), (ScriptRun, ['view']), (Schedule, ['view']),
        ),
        'runner': make_role_user(
            f'{prefix}-runner',
            (Script, ['view', 'run'], {'class_name': 'Hello'}), (ScriptRun, ['view'], {'user': '$user'}),
        ),
        'editor': make_role_user(
            f'{prefix}-editor',
            (ScriptModule, ['view', 'add', 'change', 'delete']), (DataSource, ['view']), (DataFile, ['view']),
        ),
        'admin': make_role_user(f'{prefix}-admin', is_superuser=True),
    }


def ui_client(user, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def api_client(user):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def make_run(script, user, *, status=RunStatusChoices.COMPLETED, commit=False, inputs=None, marker='', **fields):
    """A run record with one log line, one change and one file, each carrying `marker`."""
    now = timezone.now()
    module = script.module
    run = ScriptRun.objects.create(
        script=script, script_name=script.full_name, revision=module.current_revision,
        content_hash=module.content_hash, user=user, source='api', inputs=inputs or {}, commit=commit,
        status=status, queue='default', started=now if status != RunStatusChoices.PENDING else None,
        completed=now if status in RunStatusChoices.TERMINAL else None, output=f'output {marker}', **fields,
    )
    RunLogEntry.objects.create(run=run, level='info', time=now, message=f'log line {marker}')
    RunChange.objects.create(run=run, time=now, action='create', object_repr=f'change {marker}',
                             postchange_data={'name': marker})
    RunFile.objects.create(run=run, name=f'{marker}.txt', content_type='text/plain', size=len(marker),
                           content=marker.encode())
    return run


@dataclass
class World:
    users: dict
    hello: Script
    count: Script
    tested: Script
    upload: ScriptModule
    data_module: ScriptModule
    data_source: DataSource
    spare_data_file: DataFile
    runs: dict
    markers: dict
    schedule: Schedule
    paused_schedule: Schedule
    job: Job
    # Logged in once, up front: a session or token created inside a test's savepoint would go with its rollback.
    ui_clients: dict = field(default_factory=dict)
    api_clients: dict = field(default_factory=dict)

    def ui(self, role):
        return self.ui_clients[role]

    def api(self, role):
        return self.api_clients[role]

    def file(self, run_name):
        return self.runs[run_name].files.get()


@pytest.fixture
def world(tmp_path):
    """Every kind of object the plugin has, owned by the admin or the runner (see the module docstring)."""
    sync_directory()
    users = make_roles()
    admin, runner = users['admin'], users['runner']
    hello = Script.objects.get(module__name='basic', class_name='Hello')
    count = Script.objects.get(module__name='basic', class_name='Count')
    tested = register_fixture('sec_health', 'health.py', user=admin).scripts.get()
    upload = save_source('sec_upload', SMALL_MODULE, source=ModuleSourceChoices.UPLOAD,
                         file_path=upload_path('sec_upload'), user=admin, reject_invalid=True)

    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'ds_probe.py').write_text(SMALL_MODULE)
    (repo / 'ds_spare.py').write_text(SMALL_MODULE.replace('Small', 'Spare'))
    data_source = DataSource(name='sec-repo', type='local', source_url=f'file://{repo}')
    data_source.full_clean()
    data_source.save()
    data_source.sync()
    data_module = register_data_file(
        DataFile.objects.get(source=data_source, path='ds_probe.py'), name='ds_probe', user=admin,
    )
    # New code from the data source that nobody who may change the module has activated yet.
    pending = SMALL_MODULE + '# pending\n'
    stage_revision(data_module, pending, content_hash(pending))

    # Distinctive strings: where they show up tells which objects a page or response lets out.
    markers = {name: f'{name}-{secrets.token_hex(4)}' for name in (
        'admin_hello', 'admin_count', 'admin_pending', 'runner_hello', 'runner_awaiting',
    )}
    runs = {
        'admin_hello': make_run(hello, admin, inputs={'who': markers['admin_hello']}, marker=markers['admin_hello']),
        'admin_count': make_run(count, admin, inputs={'times': 1}, marker=markers['admin_count']),
        # Queued: it has its core Job (a waiting run without one is reaped as orphaned when its page is shown).
        'admin_pending': make_run(count, admin, status=RunStatusChoices.PENDING, inputs={'times': 1},
                                  marker=markers['admin_pending'], job=Job.objects.create(
                                      object_type=ObjectType.objects.get_for_model(Script), object_id=count.pk,
                                      name='Run basic.Count', user=admin, job_id=uuid.uuid4(), status='pending',
                                      queue_name='default',
                                  )),
        'runner_hello': make_run(hello, runner, inputs={'who': markers['runner_hello']},
                                 marker=markers['runner_hello']),
        # A committed run of the runner's that waits for someone else's approval (its dry run has completed).
        'runner_awaiting': make_run(hello, runner, status='awaiting_approval', inputs={'who': 'approve me'},
                                    marker=markers['runner_awaiting'], approval_requested=True),
    }
    schedule = Schedule.objects.create(name='sec nightly', script=hello, user=admin, inputs={'who': 'night'},
                                       cron='0 2 * * *')
    paused = Schedule.objects.create(name='sec paused', script=hello, user=admin, inputs={'who': 'paused'},
                                     cron='0 4 * * *', enabled=False)
    job = Job.objects.create(
        object_type=ObjectType.objects.get_for_model(Script), object_id=hello.pk, name='Run basic.Hello',
        user=admin, job_id=uuid.uuid4(), status='completed', queue_name='default',
    )
    return World(
        users=users, hello=hello, count=count, tested=tested, upload=upload,
        data_module=data_module, data_source=data_source,
        spare_data_file=DataFile.objects.get(source=data_source, path='ds_spare.py'),
        runs=runs, markers=markers, schedule=schedule, paused_schedule=paused, job=job,
        ui_clients={role: ui_client(user) for role, user in users.items()},
        api_clients={role: api_client(user) for role, user in users.items()},
    )


def snapshot():
    """Everything a refused request must leave as it was: records, their states, jobs and change-log entries."""
    return {
        'runs': list(ScriptRun.objects.order_by('pk').values_list(
            'pk', 'status', 'commit', 'cancel_requested', 'user_id', 'reviewed_by_id',
        )),
        'jobs': list(Job.objects.order_by('pk').values_list('pk', 'status')),
        'schedules': list(Schedule.objects.order_by('pk').values_list(
            'pk', 'name', 'enabled', 'inputs', 'commit', 'user_id', 'description', 'cron',
        )),
        'modules': list(ScriptModule.objects.order_by('pk').values_list(
            'pk', 'name', 'description', 'current_revision_id', 'status', 'data_synced', 'auto_sync_enabled',
        )),
        'revisions': ModuleRevision.objects.aggregate(Max('pk'))['pk__max'],
        'files': RunFile.objects.count(),
        'changes': ObjectChange.objects.aggregate(Max('pk'))['pk__max'],
    }
