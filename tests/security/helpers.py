"""
Plain helpers of the security suite (its fixtures, `world` among them, are in conftest.py): the roles of the
permission matrix, the World the matrix acts on, a snapshot of everything a refused request must leave alone, and
the fixture script modules of tests/fixtures/security (registered as uploads, so that the scripts directory sync of
the pages never marks them missing).

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
from dataclasses import dataclass, field

from core.models import DataFile, DataSource, Job, ObjectChange
from django.db.models import Max
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import save_source, upload_path
from netbox_custom_scripts.models import (
    ModuleRevision,
    RunChange,
    RunFile,
    Schedule,
    Script,
    ScriptModule,
    ScriptRun,
    write_log_lines,
)
from netbox_custom_scripts.scripting.log import LogEntry

from ..utils import make_user, token_header

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


def fixture_source(filename):
    with open(os.path.join(FIXTURES, filename), encoding='utf-8') as f:
        return f.read()


def register_fixture(name, filename, user=None):
    """A fixture module of tests/fixtures/security, registered as an upload under `name` (no file is written)."""
    return save_source(
        name, fixture_source(filename), source=ModuleSourceChoices.UPLOAD, file_path=upload_path(name),
        user=user, reject_invalid=True,
    )


def make_roles(prefix='sec'):
    """The users of the matrix's roles, by role name (anonymous: None)."""
    return {
        'anonymous': None,
        'viewer': make_user(
            f'{prefix}-viewer',
            (Script, ['view']), (ScriptModule, ['view']), (ScriptRun, ['view']), (Schedule, ['view']),
        ),
        'runner': make_user(
            f'{prefix}-runner',
            (Script, ['view', 'run'], {'class_name': 'Hello'}), (ScriptRun, ['view'], {'user': '$user'}),
        ),
        'editor': make_user(
            f'{prefix}-editor',
            (ScriptModule, ['view', 'add', 'change', 'delete']), (DataSource, ['view']), (DataFile, ['view']),
        ),
        'admin': make_user(f'{prefix}-admin', is_superuser=True),
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
    write_log_lines(run.pk, 1, [LogEntry('info', f'log line {marker}', now)])
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
