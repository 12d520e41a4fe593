"""
Script modules from an upload (web form, REST API) and from a NetBox Data Source file, besides the scripts directory.

The contract pinned down here:

- an upload (a .py file or text) becomes a module with numbered revisions, each with its SHA-256 and author, one
  Script record per class, and a copy in NetBox's `scripts` storage under `custom_scripts/`;
- a bad upload is refused whole, with a message on the input at fault: a name that is not a Python module path
  (path tricks, separators, `.py` suffixes), a file name that is not `<identifier>.py`, a file that is not UTF-8 or
  is over `max_module_size` (checked before the file is read), a module that does not import (syntax error, import
  error, invalid Meta: the message names the line), a name another module (from any source) already has. Nothing
  is written: no database row, no storage file, no cached import;
- editing an uploaded module's source creates revision N+1 and re-syncs its scripts; an unchanged source creates
  nothing; a broken one is refused and the module stays as it was. Deleting a module deletes its stored file;
- a module created from a Data Source file is re-synced by NetBox's auto-sync when its data source is synced with a
  changed file (a new revision), or on demand;
- only users with add/change/delete on script modules may do any of this; the others get 403 (the anonymous web
  user a login page) and nothing changes; the REST API answers every invalid input with 400 and per-field errors.
"""
import sys
import textwrap

import pytest
from core.models import AutoSyncRecord, DataFile, DataSource
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from users.models import Token

from netbox_custom_scripts.choices import ModuleSourceChoices, ModuleStatusChoices
from netbox_custom_scripts.execution import loader, register_data_file, register_upload, replace_source, sync_directory
from netbox_custom_scripts.models import ModuleRevision, ScriptModule
from netbox_custom_scripts.models.modules import content_hash

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db

MODULES_URL = '/api/plugins/custom-scripts/modules/'
ADD_URL = reverse('plugins:netbox_custom_scripts:scriptmodule_add')
ADD_DATA_SOURCE_URL = reverse('plugins:netbox_custom_scripts:scriptmodule_add_data_source')

GREET = textwrap.dedent("""\
    from netbox_custom_scripts.scripts import Script, StringVar

    name = 'Greetings'


    class Hello(Script):
        who = StringVar()

        def run(self, data, commit):
            self.log_info(data['who'])
""")
GREET_V2 = GREET.replace('class Hello', 'class Goodbye')
SYNTAX_ERROR = 'from netbox_custom_scripts.scripts import Script\n\n\nclass Broken(Script)\n    pass\n'
IMPORT_ERROR = 'import os\n\nimport no_such_module_anywhere\n'
BAD_META = textwrap.dedent("""\
    from netbox_custom_scripts.scripts import Script


    class BadMeta(Script):
        class Meta:
            max_runtime = 'soon'  # the plugin's own options are checked strictly

        def run(self, data, commit):
            pass
""")


@pytest.fixture(autouse=True)
def scripts_storage(settings, tmp_path):
    """NetBox's `scripts` storage backend, on a directory of this test's own."""
    root = tmp_path / 'netbox-scripts'
    root.mkdir()
    settings.SCRIPTS_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        'scripts': {'BACKEND': 'extras.storage.ScriptFileSystemStorage', 'OPTIONS': {'allow_overwrite': True}},
    }
    assert storages['scripts'].location == str(root)
    return root


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what waits for the transaction to commit (the storage writes), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def stored_files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob('*') if path.is_file())


def assert_nothing_registered(root, name=None):
    assert not ScriptModule.objects.exclude(source=ModuleSourceChoices.DIRECTORY).exists()
    assert not ModuleRevision.objects.exclude(module__source=ModuleSourceChoices.DIRECTORY).exists()
    assert stored_files(root) == []
    if name:
        assert name not in loader._cache
        assert f'{loader.PACKAGE}.{name}' not in sys.modules


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def api_client(user=None):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def uploader(username='uploader', actions=('view', 'add', 'change', 'delete')):
    return make_user(username, (ScriptModule, list(actions)))


class UnreadableFile:
    """An upload that says how big it is and fails the test if anything reads it."""
    name = 'huge.py'
    size = 10 * 1024 ** 3

    def seek(self, offset):
        pass

    def read(self, size=-1):
        raise AssertionError('the file was read before its size was checked')


#
# The sources layer
#

def test_upload_from_text_registers_a_revision_scripts_and_the_stored_file(scripts_storage, commit):
    user = uploader()
    with commit():
        module = register_upload('greetings', GREET, user=user)
    module.refresh_from_db()
    assert module.source == ModuleSourceChoices.UPLOAD
    assert module.status == ModuleStatusChoices.OK
    assert module.display_name == 'Greetings'
    assert module.file_path == 'custom_scripts/greetings.py'
    revision = module.current_revision
    assert (revision.number, revision.content_hash, revision.created_by) == (1, content_hash(GREET), user)
    assert revision.source_code == GREET
    assert list(module.scripts.values_list('class_name', flat=True)) == ['Hello']
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET


def test_upload_from_a_file_takes_the_module_name_from_the_file_name(scripts_storage, commit):
    with commit():
        module = register_upload(file=SimpleUploadedFile('provisioning.py', GREET.encode()))
    assert module.name == 'provisioning'
    assert stored_files(scripts_storage) == ['custom_scripts/provisioning.py']


def test_a_given_name_wins_and_dotted_names_are_stored_in_folders(scripts_storage, commit):
    with commit():
        module = register_upload('branches.access', file=SimpleUploadedFile('whatever.py', GREET.encode()))
    assert module.name == 'branches.access'
    assert stored_files(scripts_storage) == ['custom_scripts/branches/access.py']


def test_a_package_init_needs_a_name(scripts_storage, commit):
    with pytest.raises(ValidationError) as error:
        register_upload(file=SimpleUploadedFile('__init__.py', GREET.encode()))
    assert 'needs a module name' in error.value.message_dict['name'][0]
    with commit():
        module = register_upload('branches', file=SimpleUploadedFile('__init__.py', GREET.encode()))
    assert module.file_path == 'custom_scripts/branches/__init__.py'
    assert stored_files(scripts_storage) == ['custom_scripts/branches/__init__.py']


@pytest.mark.parametrize('name', [
    '../x', '../x.py', 'a/b', 'a/b.py', '/etc/passwd', 'x.py', 'x.py.exe', 'a\\b', 'my-script', 'a..b', '.x', 'x.',
    'class', '1abc', 'a b', 'x\0y', 'ä' * 201,
])
def test_names_that_are_not_module_paths_are_refused(scripts_storage, commit, name):
    with commit(), pytest.raises(ValidationError) as error:
        register_upload(name, GREET)
    assert set(error.value.message_dict) == {'name'}
    assert_nothing_registered(scripts_storage)


@pytest.mark.parametrize('filename', [
    '../x.py', 'a/b.py', '/etc/x.py', '..\\x.py', 'x.py.exe', 'x.txt', 'x', '.hidden.py', 'my-script.py',
    'a.b.py', 'class.py', '.py',
])
def test_file_names_with_paths_or_other_extensions_are_refused(scripts_storage, commit, filename):
    with commit(), pytest.raises(ValidationError) as error:
        register_upload(file=ContentFile(GREET.encode(), name=filename))
    assert 'file' in error.value.message_dict
    assert_nothing_registered(scripts_storage)


def test_a_file_that_is_not_utf8_is_refused(scripts_storage, commit):
    with commit(), pytest.raises(ValidationError) as error:
        register_upload(file=SimpleUploadedFile('latin.py', '# café\n'.encode('latin-1')))
    assert 'not UTF-8' in error.value.message_dict['file'][0]
    assert_nothing_registered(scripts_storage)


def test_sources_over_the_size_limit_are_refused(scripts_storage, commit, settings, monkeypatch):
    monkeypatch.setitem(settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'max_module_size', 100)
    too_big = '#' * 100 + '\n'
    with commit():
        with pytest.raises(ValidationError) as error:
            register_upload(file=SimpleUploadedFile('big.py', too_big.encode()))
        assert 'the limit is 100 bytes' in error.value.message_dict['file'][0]
        with pytest.raises(ValidationError) as error:
            register_upload('big', too_big)
        assert 'the limit is 100 bytes' in error.value.message_dict['source_code'][0]
    assert_nothing_registered(scripts_storage)


def test_the_size_of_an_upload_is_checked_before_it_is_read(scripts_storage):
    with pytest.raises(ValidationError) as error:
        register_upload(file=UnreadableFile())
    assert 'max_module_size' in error.value.message_dict['file'][0]
    assert_nothing_registered(scripts_storage)


@pytest.mark.parametrize('source, expected', [
    (SYNTAX_ERROR, 'Syntax error'),
    (IMPORT_ERROR, "Import failed: ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
    (BAD_META, 'Meta.max_runtime'),
], ids=['syntax-error', 'import-error', 'bad-meta'])
def test_a_module_that_does_not_import_is_refused_with_its_line(scripts_storage, commit, source, expected):
    line = {SYNTAX_ERROR: 4, IMPORT_ERROR: 3, BAD_META: 4}[source]
    with commit(), pytest.raises(ValidationError) as error:
        register_upload('broken', source)
    message = error.value.message_dict['source_code'][0]
    assert expected in message
    assert f'(line {line})' in message
    assert_nothing_registered(scripts_storage, 'broken')

    # As an uploaded file, the error is the file's.
    with commit(), pytest.raises(ValidationError) as error:
        register_upload(file=SimpleUploadedFile('broken.py', source.encode()))
    assert f'(line {line})' in error.value.message_dict['file'][0]
    assert_nothing_registered(scripts_storage, 'broken')


def test_a_name_already_used_by_any_source_is_refused(scripts_storage, commit):
    sync_directory()  # tests/fixtures/scripts/basic.py: the directory module `basic`
    with commit():
        register_upload('greetings', GREET)
    for name, source in (('greetings', 'Upload'), ('basic', 'Directory')):
        with commit(), pytest.raises(ValidationError) as error:
            register_upload(name, GREET_V2)
        assert error.value.message_dict['name'] == [f"A module named '{name}' already exists (source: {source})."]
    assert ScriptModule.objects.get(name='greetings').current_revision.source_code == GREET
    assert ScriptModule.objects.get(name='basic').source == ModuleSourceChoices.DIRECTORY
    assert stored_files(scripts_storage) == ['custom_scripts/greetings.py']


def test_replacing_the_source_creates_the_next_revision_and_resyncs_scripts(scripts_storage, commit):
    author, editor = uploader('author'), uploader('editor')
    with commit():
        module = register_upload('greetings', GREET, user=author)
    hello = module.scripts.get(class_name='Hello')

    with commit():
        assert replace_source(module, GREET_V2, user=editor) is True
    module.refresh_from_db()
    assert module.current_revision.number == 2
    assert module.current_revision.created_by == editor
    assert list(module.revisions.values_list('number', 'created_by__username')) == [(2, 'editor'), (1, 'author')]
    hello.refresh_from_db()
    assert hello.is_active is False
    assert module.scripts.get(class_name='Goodbye').is_active
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET_V2

    # The same source again: nothing changes.
    with commit():
        assert replace_source(module, GREET_V2, user=editor) is False
    assert module.revisions.count() == 2

    # A file works too.
    with commit():
        assert replace_source(module, file=SimpleUploadedFile('greetings.py', GREET.encode())) is True
    assert module.revisions.count() == 3


def test_a_broken_replacement_is_refused_and_changes_nothing(scripts_storage, commit):
    with commit():
        module = register_upload('greetings', GREET)
    for broken in (SYNTAX_ERROR, IMPORT_ERROR, BAD_META):
        with commit(), pytest.raises(ValidationError) as error:
            replace_source(module, broken)
        assert '(line ' in error.value.message_dict['source_code'][0]
    module = ScriptModule.objects.get(pk=module.pk)
    assert module.current_revision.number == 1
    assert module.status == ModuleStatusChoices.OK
    assert list(module.scripts.filter(is_active=True).values_list('class_name', flat=True)) == ['Hello']
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET
    # The process's import is the registered one, not the refused trial.
    assert loader.load_revision(module.current_revision).scripts[0].__name__ == 'Hello'


def test_directory_modules_are_not_replaced_through_the_plugin():
    sync_directory()
    module = ScriptModule.objects.get(name='basic')
    with pytest.raises(ValidationError) as error:
        replace_source(module, GREET)
    assert 'comes from directory' in error.value.message_dict['source_code'][0]
    assert module.revisions.count() == 1


def test_deleting_an_uploaded_module_deletes_its_stored_file(scripts_storage, commit):
    with commit():
        module = register_upload('greetings', GREET)
        register_upload('other', GREET)
    assert len(stored_files(scripts_storage)) == 2
    loader.load_revision(module.current_revision)
    with commit():
        module.delete()
    assert stored_files(scripts_storage) == ['custom_scripts/other.py']
    assert 'greetings' not in loader._cache
    assert not ModuleRevision.objects.filter(module__name='greetings').exists()


#
# Data Source modules
#

@pytest.fixture
def repo(tmp_path):
    """A local NetBox Data Source on a directory: write files, then sync() to update its DataFiles."""
    root = tmp_path / 'repo'
    (root / 'scripts').mkdir(parents=True)
    (root / 'scripts' / 'greetings.py').write_text(GREET)
    (root / 'scripts' / 'broken.py').write_text(SYNTAX_ERROR)
    (root / 'README.txt').write_text('not a module\n')
    (root / 'latin.py').write_bytes('# café\n'.encode('latin-1'))
    source = DataSource(name='repo', type='local', source_url=f'file://{root}')
    source.full_clean()
    source.save()
    source.sync()
    source.root = root
    return source


def data_file(source, path):
    return DataFile.objects.get(source=source, path=path)


def resync(source, path, text):
    (source.root / path).write_text(text)
    source.refresh_from_db()
    source.sync()


def test_a_data_file_module_is_registered_and_auto_synced(repo):
    user = uploader()
    module = register_data_file(data_file(repo, 'scripts/greetings.py'), user=user, auto_sync_enabled=True)
    module.refresh_from_db()
    assert (module.name, module.source, module.file_path) == ('greetings', 'data-source', 'scripts/greetings.py')
    assert (module.data_source, module.data_path, module.auto_sync_enabled) == (repo, 'scripts/greetings.py', True)
    assert module.current_revision.created_by == user
    assert AutoSyncRecord.objects.filter(object_id=module.pk, datafile=module.data_file).exists()

    resync(repo, 'scripts/greetings.py', GREET_V2)
    module.refresh_from_db()
    assert module.current_revision.number == 2
    assert module.current_revision.source_code == GREET_V2
    assert module.current_revision.created_by is None
    assert module.scripts.get(class_name='Goodbye').is_active
    assert not module.scripts.get(class_name='Hello').is_active

    # A data source sync that does not change the file adds no revision.
    repo.refresh_from_db()
    repo.sync()
    assert module.revisions.count() == 2


def test_an_auto_synced_file_that_breaks_is_recorded_with_its_error_like_a_directory_file(repo):
    module = register_data_file(data_file(repo, 'scripts/greetings.py'), auto_sync_enabled=True)
    resync(repo, 'scripts/greetings.py', SYNTAX_ERROR)
    module.refresh_from_db()
    assert module.status == ModuleStatusChoices.ERROR
    assert module.error_line == 4
    assert not module.is_runnable
    resync(repo, 'scripts/greetings.py', GREET)
    module.refresh_from_db()
    assert module.status == ModuleStatusChoices.OK
    assert module.current_revision.number == 3


def test_an_auto_synced_file_that_is_no_longer_text_is_recorded_as_an_error(repo):
    module = register_data_file(data_file(repo, 'scripts/greetings.py'), auto_sync_enabled=True)
    (repo.root / 'scripts' / 'greetings.py').write_bytes('# café\n'.encode('latin-1'))
    repo.refresh_from_db()
    repo.sync()  # the data source itself syncs; the module records why it cannot follow
    module.refresh_from_db()
    assert module.current_revision.number == 1
    assert module.status == ModuleStatusChoices.ERROR and 'not UTF-8' in module.error
    assert not module.is_runnable


def test_netbox_sync_view_reports_an_unreadable_file_without_a_server_error(repo):
    from django.test import Client

    module = register_data_file(data_file(repo, 'scripts/greetings.py'))
    (repo.root / 'scripts' / 'greetings.py').write_bytes('# café\n'.encode('latin-1'))
    repo.refresh_from_db()
    repo.sync()
    client = Client()
    client.force_login(make_user('syncer', is_superuser=True))
    response = client.post(reverse('plugins:netbox_custom_scripts:scriptmodule_sync', args=[module.pk]))
    assert response.status_code == 302
    module.refresh_from_db()
    assert module.status == ModuleStatusChoices.ERROR and 'not UTF-8' in module.error


def test_without_auto_sync_a_module_changes_only_when_synced(repo):
    module = register_data_file(data_file(repo, 'scripts/greetings.py'), name='hello.world')
    assert module.name == 'hello.world'
    assert not AutoSyncRecord.objects.filter(object_id=module.pk).exists()
    resync(repo, 'scripts/greetings.py', GREET_V2)
    module.refresh_from_db()
    assert module.current_revision.number == 1
    module.sync(save=True)
    module.refresh_from_db()
    assert module.current_revision.number == 2


@pytest.mark.parametrize('path, field, expected', [
    ('README.txt', 'data_file', 'ending in ".py"'),
    ('latin.py', 'data_file', 'not UTF-8'),
    ('scripts/broken.py', 'data_file', '(line 4)'),
])
def test_bad_data_files_are_refused(repo, path, field, expected):
    with pytest.raises(ValidationError) as error:
        register_data_file(data_file(repo, path), auto_sync_enabled=True)
    assert expected in error.value.message_dict[field][0]
    assert not ScriptModule.objects.filter(source=ModuleSourceChoices.DATA_SOURCE).exists()
    assert not AutoSyncRecord.objects.exists()


def test_a_data_file_module_cannot_take_a_used_name(repo, commit):
    with commit():
        register_upload('greetings', GREET)
    with pytest.raises(ValidationError) as error:
        register_data_file(data_file(repo, 'scripts/greetings.py'))
    assert 'already exists (source: Upload)' in error.value.message_dict['name'][0]


#
# Web UI
#

def test_the_upload_form_warns_that_uploading_runs_code():
    response = client_for(uploader()).get(ADD_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'runs its code on the NetBox server' in page
    assert 'name="upload_file"' in page and 'name="source_code"' in page


def test_ui_upload_of_a_file_and_of_typed_source(scripts_storage, commit):
    user = uploader()
    client = client_for(user)
    with commit():
        response = client.post(ADD_URL, {'upload_file': SimpleUploadedFile('greetings.py', GREET.encode()),
                                         'description': 'Says hello'})
    module = ScriptModule.objects.get(name='greetings')
    assert response.status_code == 302 and response.url == module.get_absolute_url()
    assert module.description == 'Says hello'
    assert module.current_revision.created_by == user

    with commit():
        response = client.post(ADD_URL, {'name': 'typed', 'source_code': GREET.replace('\n', '\r\n')})
    assert response.status_code == 302
    typed = ScriptModule.objects.get(name='typed')
    assert typed.current_revision.source_code == GREET  # browsers' CRLF line ends are normalised
    assert stored_files(scripts_storage) == ['custom_scripts/greetings.py', 'custom_scripts/typed.py']

    page = client.get(module.get_absolute_url()).content.decode()
    assert 'class Hello(Script)' in page


@pytest.mark.parametrize('data, field, expected', [
    ({'name': '../evil', 'source_code': GREET}, 'name', 'Invalid module name'),
    ({'name': 'evil.py', 'source_code': GREET}, 'name', 'without ".py"'),
    ({'source_code': GREET}, 'name', 'Give the module a name'),
    ({'name': 'broken', 'source_code': SYNTAX_ERROR}, 'source_code', '(line 4)'),
    ({'name': 'broken', 'source_code': BAD_META}, 'source_code', 'Meta.max_runtime'),
    ({'upload_file': ('evil.py.exe', GREET)}, 'upload_file', 'ending in ".py"'),
    ({'upload_file': ('broken.py', IMPORT_ERROR)}, 'upload_file', '(line 3)'),
    ({'upload_file': ('latin.py', '# café'.encode('latin-1'))}, 'upload_file', 'not UTF-8'),
    ({'upload_file': ('both.py', GREET), 'source_code': GREET}, 'source_code', 'not both'),
    ({'name': 'empty'}, 'source_code', 'Give the module source'),
    ({'name': 'basic', 'source_code': GREET}, 'name', 'already exists (source: Directory)'),
])
def test_ui_refuses_bad_uploads_on_the_field_at_fault(scripts_storage, commit, data, field, expected):
    sync_directory()
    data = dict(data)
    if 'upload_file' in data:
        filename, content = data['upload_file']
        data['upload_file'] = SimpleUploadedFile(filename, content.encode() if isinstance(content, str) else content)
    with commit():
        response = client_for(uploader()).post(ADD_URL, data)
    assert response.status_code == 200
    form = response.context['form']
    assert any(expected in message for message in form.errors[field]), form.errors
    assert_nothing_registered(scripts_storage)


def test_the_module_list_offers_upload_to_those_who_may_add():
    list_url = reverse('plugins:netbox_custom_scripts:scriptmodule_list')
    page = client_for(uploader()).get(list_url).content.decode()
    assert f'href="{ADD_URL}' in page and f'href="{ADD_DATA_SOURCE_URL}' in page
    page = client_for(make_user('viewer', (ScriptModule, ['view']))).get(list_url).content.decode()
    assert ADD_URL not in page


def test_ui_upload_permissions(scripts_storage, commit):
    anonymous = Client().get(ADD_URL)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse('login'))
    with commit():
        assert Client().post(ADD_URL, {'name': 'x', 'source_code': GREET}).status_code == 302
        viewer = client_for(make_user('viewer', (ScriptModule, ['view'])))
        assert viewer.get(ADD_URL).status_code == 403
        assert viewer.post(ADD_URL, {'name': 'x', 'source_code': GREET}).status_code == 403
        # Object-level constraints hold: this user may only add modules named "allowed".
        constrained = client_for(make_user('constrained', (ScriptModule, ['view', 'add'], {'name': 'allowed'})))
        response = constrained.post(ADD_URL, {'name': 'other', 'source_code': GREET})
        assert response.status_code == 200
        assert 'permission' in str(response.context['form'].non_field_errors())
    assert_nothing_registered(scripts_storage)
    with commit():
        assert constrained.post(ADD_URL, {'name': 'allowed', 'source_code': GREET}).status_code == 302
    assert stored_files(scripts_storage) == ['custom_scripts/allowed.py']


def test_ui_edit_replaces_the_source_as_a_new_revision(scripts_storage, commit):
    user = uploader()
    client = client_for(user)
    with commit():
        module = register_upload('greetings', GREET, user=user)
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_edit', args=[module.pk])
    page = client.get(url).content.decode()
    assert 'self.log_info(data[&#x27;who&#x27;])' in page  # the editor holds the current source

    # The editor sends the same source back (with CRLF) and a new description: no new revision.
    with commit():
        response = client.post(url, {'source_code': GREET.replace('\n', '\r\n'), 'description': 'Polite'})
    assert response.status_code == 302
    module.refresh_from_db()
    assert (module.description, module.current_revision.number) == ('Polite', 1)

    with commit():
        assert client.post(url, {'source_code': GREET_V2, 'description': 'Polite'}).status_code == 302
    module.refresh_from_db()
    assert module.current_revision.number == 2
    assert module.scripts.get(class_name='Goodbye').is_active
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET_V2

    # An uploaded file replaces the source even though the editor still holds the current one.
    with commit():
        response = client.post(url, {'source_code': GREET_V2,
                                     'upload_file': SimpleUploadedFile('greetings.py', GREET.encode())})
    assert response.status_code == 302
    module.refresh_from_db()
    assert module.current_revision.number == 3

    # A broken source is refused: the form says why, the module keeps revision 3.
    with commit():
        response = client.post(url, {'source_code': SYNTAX_ERROR})
    assert response.status_code == 200
    assert '(line 4)' in response.context['form'].errors['source_code'][0]
    module.refresh_from_db()
    assert module.current_revision.number == 3
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET


def test_ui_edit_needs_the_change_permission(commit):
    with commit():
        module = register_upload('greetings', GREET)
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_edit', args=[module.pk])
    adder = client_for(make_user('adder', (ScriptModule, ['view', 'add'])))
    assert adder.get(url).status_code == 403
    assert adder.post(url, {'source_code': GREET_V2}).status_code == 403
    assert Client().post(url, {'source_code': GREET_V2}).status_code == 302  # to the login page
    assert module.revisions.count() == 1


def test_ui_edit_of_a_directory_module_changes_no_source():
    sync_directory()
    module = ScriptModule.objects.get(name='basic')
    client = client_for(uploader())
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_edit', args=[module.pk])
    page = client.get(url).content.decode()
    assert 'name="source_code"' not in page and 'name="upload_file"' not in page
    assert client.post(url, {'description': 'From disk', 'source_code': GREET}).status_code == 302
    module.refresh_from_db()
    assert module.description == 'From disk'
    assert module.revisions.count() == 1


def test_ui_revisions_tab_lists_revisions_and_shows_an_old_one(commit):
    author, editor = make_user('author'), make_user('editor')
    with commit():
        module = register_upload('greetings', GREET, user=author)
        replace_source(module, GREET_V2, user=editor)
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_revisions', args=[module.pk])
    viewer = client_for(make_user('viewer', (ScriptModule, ['view'])))
    page = viewer.get(url).content.decode()
    for text in ('r1', 'r2', content_hash(GREET), content_hash(GREET_V2), 'author', 'editor'):
        assert text in page
    old = viewer.get(url, {'number': 1})
    assert old.context['selected'].number == 1
    assert 'class Hello(Script)' in old.content.decode()
    new = viewer.get(url, {'number': 2})
    assert '-class Hello(Script):' in new.context['diff'] and '+class Goodbye(Script):' in new.context['diff']
    assert client_for(make_user('nobody')).get(url).status_code == 403
    other = client_for(make_user('other', (ScriptModule, ['view'], {'name': 'other'})))
    assert other.get(url).status_code == 404


def test_ui_delete_removes_the_module_and_its_file(scripts_storage, commit):
    with commit():
        module = register_upload('greetings', GREET)
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_delete', args=[module.pk])
    viewer = client_for(make_user('viewer', (ScriptModule, ['view'])))
    with commit():
        assert viewer.post(url, {'confirm': True}).status_code == 403
    assert ScriptModule.objects.filter(pk=module.pk).exists()
    assert stored_files(scripts_storage) == ['custom_scripts/greetings.py']
    with commit():
        assert client_for(uploader()).post(url, {'confirm': True}).status_code == 302
    assert not ScriptModule.objects.filter(pk=module.pk).exists()
    assert stored_files(scripts_storage) == []


def test_ui_module_from_a_data_source(repo):
    user = make_user(
        'syncer', (ScriptModule, ['view', 'add', 'sync']), (DataSource, ['view']), (DataFile, ['view']),
    )
    client = client_for(user)
    assert client.get(ADD_DATA_SOURCE_URL).status_code == 200
    greetings = data_file(repo, 'scripts/greetings.py')
    response = client.post(ADD_DATA_SOURCE_URL, {
        'data_source': repo.pk, 'data_file': greetings.pk, 'auto_sync_enabled': 'on',
    })
    assert response.status_code == 302
    module = ScriptModule.objects.get(name='greetings')
    assert module.source == ModuleSourceChoices.DATA_SOURCE and module.auto_sync_enabled
    assert module.current_revision.created_by == user
    page = client.get(module.get_absolute_url()).content.decode()
    assert 'scripts/greetings.py' in page
    sync_url = reverse('plugins:netbox_custom_scripts:scriptmodule_sync', kwargs={'pk': module.pk})
    assert sync_url in page  # the Sync button

    resync(repo, 'scripts/greetings.py', GREET_V2)  # auto-sync
    module.refresh_from_db()
    assert module.current_revision.number == 2

    # On demand, with NetBox's sync view.
    (repo.root / 'scripts' / 'greetings.py').write_text(GREET)
    repo.refresh_from_db()
    module.auto_sync_enabled = False
    module.save()
    repo.sync()
    assert client.post(sync_url).status_code == 302
    module.refresh_from_db()
    assert module.current_revision.number == 3


def test_ui_edit_of_a_data_source_module_turns_auto_sync_off(repo):
    module = register_data_file(data_file(repo, 'scripts/greetings.py'), auto_sync_enabled=True)
    client = client_for(uploader())
    url = reverse('plugins:netbox_custom_scripts:scriptmodule_edit', args=[module.pk])
    page = client.get(url).content.decode()
    assert 'name="auto_sync_enabled"' in page and 'name="source_code"' not in page
    assert client.post(url, {'description': 'From git'}).status_code == 302
    module.refresh_from_db()
    assert (module.description, module.auto_sync_enabled, module.data_path) == ('From git', False, module.file_path)
    assert module.data_file == data_file(repo, 'scripts/greetings.py')
    assert not AutoSyncRecord.objects.filter(object_id=module.pk).exists()
    resync(repo, 'scripts/greetings.py', GREET_V2)
    module.refresh_from_db()
    assert module.current_revision.number == 1


def test_ui_refuses_bad_data_files(repo):
    other = DataSource.objects.create(name='other', type='local', source_url=f'file://{repo.root}/scripts')
    other.sync()
    client = client_for(make_user('adder', (ScriptModule, ['add']), (DataSource, ['view']), (DataFile, ['view'])))
    for data, field, expected in (
        ({'data_file': data_file(repo, 'README.txt').pk}, 'data_file', 'ending in ".py"'),
        ({'data_file': data_file(repo, 'scripts/broken.py').pk}, 'data_file', '(line 4)'),
        ({'data_file': data_file(other, 'greetings.py').pk}, 'data_file', 'does not belong'),
        ({'data_file': data_file(repo, 'scripts/greetings.py').pk, 'name': 'a/b'}, 'name', 'Invalid module name'),
    ):
        response = client.post(ADD_DATA_SOURCE_URL, {'data_source': repo.pk, **data})
        assert response.status_code == 200
        errors = response.context['form'].errors
        assert any(expected in message for message in errors.get(field, [])), errors
    assert not ScriptModule.objects.filter(source=ModuleSourceChoices.DATA_SOURCE).exists()


#
# REST API
#

def test_api_create_from_json_and_from_a_multipart_file(scripts_storage, commit):
    user = uploader()
    client = api_client(user)
    with commit():
        response = client.post(MODULES_URL, {'name': 'greetings', 'source_code': GREET}, format='json')
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body['name'], body['source']['value'], body['revision']) == ('greetings', 'upload', 1)
    assert body['content_hash'] == content_hash(GREET)
    assert body['file_path'] == 'custom_scripts/greetings.py'
    assert 'source_code' not in body
    assert ScriptModule.objects.get(name='greetings').current_revision.created_by == user

    with commit():
        response = client.post(MODULES_URL, {'file': SimpleUploadedFile('hello.py', GREET.encode()),
                                             'description': 'Uploaded'}, format='multipart')
    assert response.status_code == 201, response.json()
    assert (response.json()['name'], response.json()['description']) == ('hello', 'Uploaded')
    assert stored_files(scripts_storage) == ['custom_scripts/greetings.py', 'custom_scripts/hello.py']


@pytest.mark.parametrize('data, field, expected', [
    ({'name': '../x', 'source_code': GREET}, 'name', 'Invalid module name'),
    ({'name': 'a/b.py', 'source_code': GREET}, 'name', 'without ".py"'),
    ({'name': '/abs/path', 'source_code': GREET}, 'name', 'Invalid module name'),
    ({'name': 'x' * 201, 'source_code': GREET}, 'name', 'no more than 200'),
    ({'name': 42, 'source_code': GREET}, 'name', 'Invalid module name'),
    ({'source_code': GREET}, 'name', 'Give the module a name'),
    ({'name': 'x'}, 'source_code', 'Give the module source'),
    ({'name': 'x', 'source_code': ''}, 'source_code', 'Give the module source'),
    ({'name': 'x', 'source_code': ['not', 'text']}, 'source_code', 'Not a valid string'),
    ('{"name": "x", "source_code": "\\ud800"}', 'source_code', 'Surrogate characters'),
    ('{"name": "x", "source_code": ', 'detail', 'JSON parse error'),
    ({'name': 'x', 'source_code': SYNTAX_ERROR}, 'source_code', '(line 4)'),
    ({'name': 'x', 'source_code': IMPORT_ERROR}, 'source_code', '(line 3)'),
    ({'name': 'x', 'source_code': BAD_META}, 'source_code', '(line 4)'),
    ({'name': 'basic', 'source_code': GREET}, 'name', 'already exists (source: Directory)'),
    ({'name': 'x', 'source_code': GREET, 'auto_sync_enabled': True}, 'auto_sync_enabled', 'data file'),
    ({'data_file': 999999}, 'data_file', 'not found'),
    ({'name': 'x', 'source_code': GREET, 'data_file': {'path': 'nope'}}, 'data_file', 'not found'),
    ({'name': 'x', 'source_code': GREET, 'tags': 'nonsense'}, 'tags', ''),
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None)
def test_api_refuses_bad_json_with_per_field_errors(scripts_storage, commit, data, field, expected):
    sync_directory()
    with commit():
        if isinstance(data, str):  # raw JSON, for what a Python client cannot send
            response = api_client(uploader()).generic('POST', MODULES_URL, data, content_type='application/json')
        else:
            response = api_client(uploader()).post(MODULES_URL, data, format='json')
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    messages = [errors[field]] if isinstance(errors[field], str) else errors[field]
    assert any(expected in message for message in messages), errors
    assert_nothing_registered(scripts_storage)


@pytest.mark.parametrize('filename, content, expected', [
    ('x.py.exe', GREET.encode(), 'ending in ".py"'),
    ('x.txt', GREET.encode(), 'ending in ".py"'),
    ('my-script.py', GREET.encode(), 'not a Python module name'),
    ('latin.py', '# café'.encode('latin-1'), 'not UTF-8'),
    ('broken.py', SYNTAX_ERROR.encode(), '(line 4)'),
    ('__init__.py', GREET.encode(), 'needs a module name'),
    ('big.py', b'#' * 200 + b'\n', 'the limit is 200 bytes'),
])
def test_api_refuses_bad_files_with_per_field_errors(
        scripts_storage, commit, settings, monkeypatch, filename, content, expected):
    monkeypatch.setitem(settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'max_module_size', 200)
    with commit():
        response = api_client(uploader()).post(
            MODULES_URL, {'file': SimpleUploadedFile(filename, content)}, format='multipart',
        )
    assert response.status_code == 400, response.content
    errors = response.json()
    assert any(expected in message for messages in errors.values() for message in messages), errors
    assert_nothing_registered(scripts_storage)


def test_api_a_file_name_with_a_path_is_reduced_to_its_last_part(scripts_storage, commit):
    # Django keeps only the last component of an uploaded file's name: nothing is written outside custom_scripts/.
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="../../evil.py"\r\n'
        b'Content-Type: text/x-python\r\n\r\n' + GREET.encode() + b'\r\n--XX--\r\n'
    )
    with commit():
        response = api_client(uploader()).generic(
            'POST', MODULES_URL, body, content_type='multipart/form-data; boundary=XX',
        )
    assert response.status_code == 201, response.content
    assert response.json()['name'] == 'evil'
    assert stored_files(scripts_storage) == ['custom_scripts/evil.py']
    assert not (scripts_storage.parent / 'evil.py').exists()


def test_api_update_replaces_the_source(scripts_storage, commit):
    client = api_client(uploader())
    with commit():
        module_id = client.post(MODULES_URL, {'name': 'greetings', 'source_code': GREET}, format='json').json()['id']
    url = f'{MODULES_URL}{module_id}/'

    with commit():
        response = client.patch(url, {'source_code': GREET_V2}, format='json')
    assert response.status_code == 200, response.json()
    assert response.json()['revision'] == 2
    assert ScriptModule.objects.get(pk=module_id).scripts.get(class_name='Goodbye').is_active

    with commit():
        response = client.patch(url, {'source_code': GREET_V2, 'description': 'Same source'}, format='json')
    assert (response.json()['revision'], response.json()['description']) == (2, 'Same source')

    with commit():
        response = client.put(url, {'file': SimpleUploadedFile('greetings.py', GREET.encode())}, format='multipart')
    assert response.status_code == 200, response.json()
    assert response.json()['revision'] == 3
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET

    for data, field in (
        ({'source_code': SYNTAX_ERROR}, 'source_code'),
        ('{"source_code": "\\udfff"}', 'source_code'),
        ({'name': 'renamed'}, 'name'),
        ({'auto_sync_enabled': True}, 'auto_sync_enabled'),
    ):
        with commit():
            if isinstance(data, str):
                response = client.generic('PATCH', url, data, content_type='application/json')
            else:
                response = client.patch(url, data, format='json')
        assert response.status_code == 400, response.content
        assert field in response.json()
    module = ScriptModule.objects.get(pk=module_id)
    assert (module.name, module.current_revision.number) == ('greetings', 3)
    assert (scripts_storage / 'custom_scripts' / 'greetings.py').read_text() == GREET


def test_api_source_of_a_directory_module_is_not_replaced():
    sync_directory()
    module = ScriptModule.objects.get(name='basic')
    client = api_client(uploader())
    response = client.patch(f'{MODULES_URL}{module.pk}/', {'source_code': GREET}, format='json')
    assert response.status_code == 400
    assert 'comes from directory' in response.json()['source_code'][0]
    response = client.patch(f'{MODULES_URL}{module.pk}/', {'description': 'Disk'}, format='json')
    assert response.status_code == 200
    assert module.revisions.count() == 1


def test_api_delete_removes_the_module_and_its_file(scripts_storage, commit):
    client = api_client(uploader())
    with commit():
        module_id = client.post(MODULES_URL, {'name': 'greetings', 'source_code': GREET}, format='json').json()['id']
    with commit():
        assert api_client(make_user('viewer', (ScriptModule, ['view']))).delete(
            f'{MODULES_URL}{module_id}/').status_code == 403
    assert stored_files(scripts_storage) == ['custom_scripts/greetings.py']
    with commit():
        assert client.delete(f'{MODULES_URL}{module_id}/').status_code == 204
    assert not ScriptModule.objects.filter(pk=module_id).exists()
    assert stored_files(scripts_storage) == []


def test_api_revisions(commit):
    author = uploader('author')
    with commit():
        module = register_upload('greetings', GREET, user=author)
        replace_source(module, GREET_V2, user=author)
    client = api_client(make_user('viewer', (ScriptModule, ['view'])))
    response = client.get(f'{MODULES_URL}{module.pk}/revisions/')
    assert response.status_code == 200
    results = response.json()['results']
    assert [(r['number'], r['is_current'], r['content_hash']) for r in results] == [
        (2, True, content_hash(GREET_V2)), (1, False, content_hash(GREET)),
    ]
    assert results[0]['created_by']['username'] == 'author'
    assert 'source_code' not in results[0]
    old = client.get(f'{MODULES_URL}{module.pk}/revisions/', {'number': 1}).json()
    assert old['source_code'] == GREET
    assert client.get(f'{MODULES_URL}{module.pk}/revisions/', {'number': 9}).status_code == 404
    assert client.get(f'{MODULES_URL}{module.pk}/revisions/', {'number': 'x'}).status_code == 400
    assert api_client(make_user('nobody')).get(f'{MODULES_URL}{module.pk}/revisions/').status_code == 403


def data_uploader():
    """May add modules, and view the data sources and files to make them from (as the API requires)."""
    return make_user('data-uploader', (ScriptModule, ['view', 'add', 'change', 'delete']), (DataSource, ['view']),
                     (DataFile, ['view']))


def test_api_module_from_a_data_file(repo):
    client = api_client(data_uploader())
    greetings = data_file(repo, 'scripts/greetings.py')
    response = client.post(MODULES_URL, {
        'data_source': repo.pk, 'data_file': greetings.pk, 'auto_sync_enabled': True,
    }, format='json')
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body['name'], body['source']['value'], body['data_path'], body['auto_sync_enabled']) == (
        'greetings', 'data-source', 'scripts/greetings.py', True,
    )
    assert body['data_file']['id'] == greetings.pk and body['data_source']['id'] == repo.pk
    resync(repo, 'scripts/greetings.py', GREET_V2)
    assert client.get(f'{MODULES_URL}{body["id"]}/').json()['revision'] == 2

    # A data-source module follows its file: no source through the API, no switching files; auto sync may change.
    url = f'{MODULES_URL}{body["id"]}/'
    assert client.patch(url, {'source_code': GREET}, format='json').status_code == 400
    assert client.patch(url, {'data_file': data_file(repo, 'README.txt').pk}, format='json').status_code == 400
    response = client.patch(url, {'auto_sync_enabled': False}, format='json')
    assert response.status_code == 200 and response.json()['auto_sync_enabled'] is False
    assert not AutoSyncRecord.objects.filter(object_id=body['id']).exists()
    assert response.json()['revision'] == 2


def test_api_refuses_bad_data_files(repo):
    other = DataSource.objects.create(name='other', type='local', source_url=f'file://{repo.root}/scripts')
    other.sync()
    client = api_client(data_uploader())
    for data, field, expected in (
        ({'data_file': data_file(repo, 'README.txt').pk}, 'data_file', 'ending in ".py"'),
        ({'data_file': data_file(repo, 'latin.py').pk}, 'data_file', 'not UTF-8'),
        ({'data_file': data_file(repo, 'scripts/broken.py').pk}, 'data_file', '(line 4)'),
        ({'data_source': repo.pk, 'data_file': data_file(other, 'greetings.py').pk}, 'data_file', 'does not belong'),
        ({'data_source': repo.pk}, 'data_file', 'Choose the data file'),
        ({'data_file': data_file(repo, 'scripts/greetings.py').pk, 'source_code': GREET}, 'data_file', 'not both'),
    ):
        response = client.post(MODULES_URL, data, format='json')
        assert response.status_code == 400, response.content
        assert any(expected in message for message in response.json()[field]), response.json()
    assert not ScriptModule.objects.filter(source=ModuleSourceChoices.DATA_SOURCE).exists()
    assert not AutoSyncRecord.objects.exists()


def test_api_permissions(scripts_storage, commit):
    data = {'name': 'greetings', 'source_code': GREET}
    with commit():
        assert api_client().post(MODULES_URL, data, format='json').status_code == 403
        viewer = make_user('viewer', (ScriptModule, ['view']))
        assert api_client(viewer).post(MODULES_URL, data, format='json').status_code == 403

        read_only = Token(user=uploader(), description='read only', write_enabled=False)
        read_only.full_clean()
        read_only.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=read_only.get_auth_header_prefix() + read_only.token)
        assert client.post(MODULES_URL, data, format='json').status_code == 403

        constrained = make_user('constrained', (ScriptModule, ['view', 'add'], {'name': 'allowed'}))
        assert api_client(constrained).post(MODULES_URL, data, format='json').status_code == 403
    assert_nothing_registered(scripts_storage)
    with commit():
        response = api_client(constrained).post(MODULES_URL, {**data, 'name': 'allowed'}, format='json')
    assert response.status_code == 201
    assert stored_files(scripts_storage) == ['custom_scripts/allowed.py']
