"""
Fixtures of the security suite: fast password hashing for the many role users, and the `world` of objects the
permission matrix acts on (every kind of object the plugin has, owned by the admin or the runner). The roles and
the other plain helpers are in helpers.py.
"""
import secrets
import uuid

import pytest
from core.models import DataFile, DataSource, Job, ObjectType

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import register_data_file, save_source, sync_directory, upload_path
from netbox_custom_scripts.execution.sources.data_file import stage_revision
from netbox_custom_scripts.models import Schedule, Script
from netbox_custom_scripts.models.modules import content_hash

from .helpers import SMALL_MODULE, World, api_client, make_roles, make_run, register_fixture, ui_client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Role users are created for every test; PBKDF2 would cost half a second each.
    settings.PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']


@pytest.fixture
def world(tmp_path):
    """Every kind of object the plugin has, owned by the admin or the runner (roles: see helpers.py)."""
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
