"""
Contract: no module code runs before every permission check has passed, on every path that brings code in.

Importing a module runs it (its import-time code executes), so validating one by importing it is running it. The
attacks below upload, edit or sync a module whose import writes a marker file; each is made by a user who must be
refused, and the marker must never appear:

- uploads and edits (REST JSON, REST multipart, the web form) by users whose object permission's constraint does
  not allow the module as it would be saved (its name, its description): 403 / a form error, nothing saved;
- a user who may only edit and sync a NetBox Data Source re-points it at other code and syncs it (the data source
  sync, the module's own Sync button): the new code is staged as the module's pending revision, not imported; the
  module keeps running what it ran; only a user who may change the module activates it (on a worker);
- where the data source is trusted (configured by someone who may change the module), auto-sync stays hands-off;
  a configuration flipped away and back, or content fetched before someone re-trusted the source, stays pending.
"""
import textwrap

import pytest
from core.models import DataFile, DataSource, Job
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import ModuleSourceChoices, ModuleStatusChoices
from netbox_custom_scripts.execution import register_data_file, register_upload
from netbox_custom_scripts.models import ModuleRevision, ScriptModule

from ..utils import make_user, token_header, wait_for
from .helpers import API, UI

pytestmark = pytest.mark.django_db

HARMLESS = textwrap.dedent("""\
    from netbox_custom_scripts.scripts import Script


    class Harmless(Script):
        def run(self, data, commit):
            self.log_info('harmless')
""")


def marker_module(marker, class_name='Evil'):
    """A module whose import writes `marker`: if the file exists, the module's code ran."""
    return textwrap.dedent(f"""\
        from netbox_custom_scripts.scripts import Script

        with open({str(marker)!r}, 'w') as f:
            f.write('module code ran')


        class {class_name}(Script):
            def run(self, data, commit):
                pass
    """)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'module-code-ran'
    yield path
    # Every test ends with its own check; this one catches a test that forgot.
    assert not path.exists() or path.read_text() == 'module code ran'


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def web_for(user):
    client = Client()
    client.force_login(user)
    return client


#
# Uploads and edits
#

def test_a_refused_upload_never_runs_its_code(marker):
    sandboxed = make_user('sandboxed', (ScriptModule, ['view', 'add'], {'name': 'sandbox'}))
    evil = marker_module(marker)

    response = api_for(sandboxed).post(f'{API}/modules/', {'name': 'evil', 'source_code': evil}, format='json')
    assert response.status_code == 403, response.content
    response = api_for(sandboxed).post(f'{API}/modules/', {
        'name': 'evil', 'file': SimpleUploadedFile('evil.py', evil.encode()),
    }, format='multipart')
    assert response.status_code == 403, response.content
    response = web_for(sandboxed).post(f'{UI}/modules/add/', {'name': 'evil', 'source_code': evil})
    assert response.status_code == 200 and 'permission' in str(response.context['form'].non_field_errors())
    response = web_for(sandboxed).post(f'{UI}/modules/add/', {
        'name': 'evil', 'upload_file': SimpleUploadedFile('evil.py', evil.encode()),
    })
    assert response.status_code == 200
    # Many at once through the API's bulk create: all refused.
    response = api_for(sandboxed).post(f'{API}/modules/', [
        {'name': 'sandbox', 'source_code': HARMLESS}, {'name': 'evil', 'source_code': evil},
    ], format='json')
    assert response.status_code == 403, response.content

    assert not marker.exists(), 'the module was imported before the permission check refused it'
    assert not ScriptModule.objects.exists() and not ModuleRevision.objects.exists()

    # The module the constraint allows is imported (and runs) as usual.
    response = api_for(sandboxed).post(f'{API}/modules/', {'name': 'sandbox', 'source_code': evil}, format='json')
    assert response.status_code == 201, response.content
    assert marker.exists()


def test_a_refused_edit_never_runs_the_new_code(marker):
    module = register_upload('tidy', HARMLESS)
    module.description = 'reviewed'
    module.save()
    # May change only modules described as reviewed: saving another description with new code is refused.
    editor = make_user('editor', (ScriptModule, ['view', 'change'], {'description': 'reviewed'}))
    evil = marker_module(marker, 'Harmless')

    response = api_for(editor).patch(f'{API}/modules/{module.pk}/', {'description': 'mine', 'source_code': evil},
                                     format='json')
    assert response.status_code == 403, response.content
    response = web_for(editor).post(f'{UI}/modules/{module.pk}/edit/', {'description': 'mine', 'source_code': evil})
    assert response.status_code == 200
    response = api_for(editor).patch(f'{API}/modules/{module.pk}/', {
        'description': 'mine', 'file': SimpleUploadedFile('tidy.py', evil.encode()),
    }, format='multipart')
    assert response.status_code == 403, response.content

    assert not marker.exists(), 'the new source was imported before the permission check refused it'
    module.refresh_from_db()
    assert (module.description, module.current_revision.number) == ('reviewed', 1)

    # A user the matrix allows: imported as usual.
    response = api_for(editor).patch(f'{API}/modules/{module.pk}/', {'source_code': evil}, format='json')
    assert response.status_code == 200, response.content
    assert marker.exists()


def test_a_refused_data_file_module_never_runs(marker, tmp_path):
    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'evil.py').write_text(marker_module(marker))
    data_source = DataSource.objects.create(name='repo', type='local', source_url=f'file://{repo}')
    data_source.sync()
    data_file = DataFile.objects.get(source=data_source, path='evil.py')
    sandboxed = make_user('sandboxed', (ScriptModule, ['view', 'add'], {'name': 'sandbox'}),
                          (DataSource, ['view']), (DataFile, ['view']))

    response = api_for(sandboxed).post(f'{API}/modules/', {'data_file': data_file.pk}, format='json')
    assert response.status_code == 403, response.content
    response = web_for(sandboxed).post(f'{UI}/modules/add-from-data-source/', {
        'data_source': data_source.pk, 'data_file': data_file.pk, 'name': 'evil',
    })
    assert response.status_code == 200
    assert not marker.exists()
    assert not ScriptModule.objects.exists()


#
# Data sources
#

@pytest.fixture
def repos(tmp_path):
    """Two local directories: the trusted repository and the attacker's, both with `tool.py`."""
    trusted, other = tmp_path / 'trusted', tmp_path / 'attacker'
    for root in (trusted, other):
        root.mkdir()
    (trusted / 'tool.py').write_text(HARMLESS)
    return trusted, other


@pytest.fixture
def synced_module(repos, db):
    """An auto-synced module from a data source an admin configured and registered."""
    trusted, _ = repos
    admin = make_user('admin', is_superuser=True)
    response = api_for(admin).post('/api/core/data-sources/', {
        'name': 'tools', 'type': 'local', 'source_url': f'file://{trusted}',
    }, format='json')
    assert response.status_code == 201, response.content
    data_source = DataSource.objects.get(name='tools')
    data_source.sync()
    module = register_data_file(
        DataFile.objects.get(source=data_source, path='tool.py'), name='tool', user=admin, auto_sync_enabled=True,
    )
    return module, data_source, admin


@pytest.fixture
def source_editor():
    """May edit and sync data sources, and sync (not change) script modules: no right to change code."""
    return make_user('source-editor', (DataSource, ['view', 'change', 'sync']), (DataFile, ['view']),
                     (ScriptModule, ['view', 'sync']))


def repoint(user, data_source, path):
    response = api_for(user).patch(f'/api/core/data-sources/{data_source.pk}/', {'source_url': f'file://{path}'},
                                   format='json')
    assert response.status_code == 200, response.content


def test_re_pointing_a_data_source_stages_the_new_code(marker, repos, synced_module, source_editor):
    module, data_source, admin = synced_module
    _, attacker = repos
    (attacker / 'tool.py').write_text(marker_module(marker, 'Harmless'))
    repoint(source_editor, data_source, attacker)
    data_source.refresh_from_db()
    data_source.sync()  # as the data source's sync job does: auto-sync reaches the module

    module.refresh_from_db()
    assert not marker.exists(), 'code from a data source nobody trusted was imported'
    assert module.current_revision.number == 1 and module.status == ModuleStatusChoices.OK
    assert module.pending_revision is not None and 'module code ran' in module.pending_revision.source_code

    # The module's own Sync button, pressed by someone who may sync but not change it: still only staged.
    response = web_for(source_editor).post(f'{UI}/modules/{module.pk}/sync/')
    assert response.status_code == 302
    module.refresh_from_db()
    assert not marker.exists() and module.current_revision.number == 1

    # They cannot activate it either, through the page or the API.
    assert web_for(source_editor).post(f'{UI}/modules/{module.pk}/activate/', {'revision': 2}).status_code == 404
    assert api_for(source_editor).post(f'{API}/modules/{module.pk}/activate/', {'revision': 2},
                                       format='json').status_code == 403
    assert not Job.objects.filter(name__startswith='Activate revision').exists()

    # The module page shows the pending revision and its diff to the admin.
    page = web_for(admin).get(module.get_absolute_url()).content.decode()
    assert 'id="pending-revision"' in page and 'id="activate-revision"' in page and 'module code ran' in page
    assert 'id="activate-revision"' not in web_for(source_editor).get(module.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_admin_activates_the_pending_revision_on_a_worker(rq_worker, marker, repos, synced_module,
                                                             source_editor):
    module, data_source, admin = synced_module
    _, attacker = repos
    (attacker / 'tool.py').write_text(marker_module(marker, 'Harmless'))
    repoint(source_editor, data_source, attacker)
    data_source.refresh_from_db()
    data_source.sync()
    assert not marker.exists()

    response = api_for(admin).post(f'{API}/modules/{module.pk}/activate/', {'revision': 2}, format='json')
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()['id'])
    wait_for(lambda: Job.objects.get(pk=job.pk).status == 'completed', message='the activation job')
    module.refresh_from_db()
    assert module.current_revision.number == 2 and module.pending_revision is None
    assert module.status == ModuleStatusChoices.OK
    assert marker.exists()  # imported on the worker, once someone who may change the module activated it


def test_a_trusted_source_still_syncs_hands_off(repos, synced_module):
    module, data_source, admin = synced_module
    trusted, _ = repos
    (trusted / 'tool.py').write_text(HARMLESS.replace("'harmless'", "'improved'"))
    data_source.sync()
    module.refresh_from_db()
    assert module.current_revision.number == 2 and module.pending_revision is None
    assert 'improved' in module.current_revision.source_code

    # The admin moves the source elsewhere: they may change the module, so the new place is trusted too.
    moved = trusted.parent / 'moved'
    moved.mkdir()
    (moved / 'tool.py').write_text(HARMLESS.replace("'harmless'", "'moved'"))
    repoint(admin, data_source, moved)
    data_source.refresh_from_db()
    data_source.sync()
    module.refresh_from_db()
    assert 'moved' in module.current_revision.source_code and module.pending_revision is None


def test_a_source_flipped_away_and_back_stays_untrusted(marker, repos, synced_module, source_editor):
    module, data_source, _ = synced_module
    trusted, attacker = repos
    repoint(source_editor, data_source, attacker)
    repoint(source_editor, data_source, trusted)  # back to the original URL: the trust is not restored
    (trusted / 'tool.py').write_text(marker_module(marker, 'Harmless'))
    data_source.refresh_from_db()
    data_source.sync()
    module.refresh_from_db()
    assert not marker.exists() and module.current_revision.number == 1 and module.pending_revision is not None


def test_content_fetched_before_the_source_was_trusted_again_stays_pending(marker, repos, synced_module,
                                                                          source_editor):
    module, data_source, admin = synced_module
    trusted, attacker = repos
    (attacker / 'tool.py').write_text(marker_module(marker, 'Harmless'))
    repoint(source_editor, data_source, attacker)
    data_source.refresh_from_db()
    data_source.sync()  # the data file now holds the attacker's code (staged)
    repoint(admin, data_source, trusted)  # the admin puts it back, without syncing the data source
    # Someone syncs the module from the data file it still has: the attacker's code, fetched before the admin's fix.
    response = web_for(source_editor).post(f'{UI}/modules/{module.pk}/sync/')
    assert response.status_code == 302
    module.refresh_from_db()
    assert not marker.exists() and module.current_revision.number == 1


def test_the_data_source_module_is_registered_without_running_before_authorisation(marker, tmp_path):
    # The model validation of a new data-source module (SyncedDataMixin.clean) checks the file without importing.
    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'evil.py').write_text(marker_module(marker))
    data_source = DataSource.objects.create(name='repo', type='local', source_url=f'file://{repo}')
    data_source.sync()
    module = ScriptModule(name='evil', source=ModuleSourceChoices.DATA_SOURCE, file_path='evil.py',
                          data_file=DataFile.objects.get(source=data_source, path='evil.py'))
    module.full_clean()
    assert not marker.exists()


def test_a_module_is_made_only_from_a_data_file_the_user_may_view(marker, tmp_path):
    # Constrained `add` on modules, no permission on data sources: the API must refuse as the web form does (it
    # would otherwise run the file's code and show its source to someone who may not read it).
    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'other.py').write_text(marker_module(marker))
    data_source = DataSource.objects.create(name='repo', type='local', source_url=f'file://{repo}')
    data_source.sync()
    data_file = DataFile.objects.get(source=data_source, path='other.py')
    blind = make_user('blind', (ScriptModule, ['view', 'add'], {'name': 'sandbox'}))
    for body in ({'data_file': data_file.pk, 'name': 'sandbox'},
                 {'data_source': data_source.pk, 'data_file': data_file.pk, 'name': 'sandbox'}):
        response = api_for(blind).post(f'{API}/modules/', body, format='json')
        assert response.status_code == 400, response.content
        assert 'may view' in str(response.json())
    assert not marker.exists() and not ScriptModule.objects.exists()
    # With `view` on the data source and its files, the same request works.
    sighted = make_user('sighted', (ScriptModule, ['view', 'add'], {'name': 'sandbox'}), (DataSource, ['view']),
                        (DataFile, ['view']))
    response = api_for(sighted).post(f'{API}/modules/', {'data_file': data_file.pk, 'name': 'sandbox'},
                                     format='json')
    assert response.status_code == 201, response.content


def test_activating_is_for_the_revision_that_was_reviewed(marker, repos, synced_module, source_editor, tmp_path):
    # The admin reviews harmless pending code; meanwhile the source editor stages other code: activating what was
    # reviewed must not activate what arrived since.
    module, data_source, admin = synced_module
    trusted, attacker = repos
    (attacker / 'tool.py').write_text(HARMLESS.replace("'harmless'", "'reviewed'"))
    repoint(source_editor, data_source, attacker)
    data_source.refresh_from_db()
    data_source.sync()
    module.refresh_from_db()
    reviewed = module.pending_revision.number
    page = web_for(admin).get(module.get_absolute_url()).content.decode()
    assert f'name="revision" value="{reviewed}"' in page

    later = tmp_path / 'later'
    later.mkdir()
    (later / 'tool.py').write_text(marker_module(marker, 'Harmless'))
    repoint(source_editor, data_source, later)
    data_source.refresh_from_db()
    data_source.sync()
    module.refresh_from_db()
    assert module.pending_revision.number == reviewed + 1

    response = web_for(admin).post(f'{UI}/modules/{module.pk}/activate/', {'revision': reviewed})
    assert response.status_code == 302
    response = api_for(admin).post(f'{API}/modules/{module.pk}/activate/', {'revision': reviewed}, format='json')
    assert response.status_code == 409 and f'r{reviewed + 1}' in response.json()['detail']
    assert api_for(admin).post(f'{API}/modules/{module.pk}/activate/', {}, format='json').status_code == 400
    assert not Job.objects.filter(name__startswith='Activate revision').exists()
    # A job queued for a revision that stopped being the pending one refuses to run it.
    from django.core.exceptions import ValidationError

    from netbox_custom_scripts.execution import activate_pending_revision

    stale = ModuleRevision.objects.get(module=module, number=reviewed)
    with pytest.raises(ValidationError, match='no longer has that pending revision'):
        activate_pending_revision(module, admin, stale.pk)
    assert not marker.exists()
    module.refresh_from_db()
    assert module.current_revision.number == 1
