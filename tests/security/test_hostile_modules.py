"""
Hostile modules and hostile uploads.

Contract:

- data files: a script's load_yaml() reads only below its scripts root; `..` that leaves it, absolute paths and
  symbolic links (to files or directories) that point out of it raise PermissionError in a real run, and nothing of
  the file out there reaches the run's log or output; links that stay inside, and `..` that stays inside, work. The
  scripts directory sync does not follow a symlinked directory out of the root either;
- a module uploaded under the name of a real package (dcim, extras, extras.scripts, os, json, django,
  netbox_custom_scripts) is imported as `_custom_scripts.<name>` and shadows nothing: the web process and a real RQ
  worker keep importing the real package, NetBox's pages keep working, and the module's script, importing its
  namesake, gets the real one;
- an upload whose name is a path (separators, `..`, absolute, drive letters, NUL) is refused with a 400 or a form
  error, through the web form and the API, and nothing is written: no ScriptModule, no ModuleRevision, no file in the
  scripts storage or anywhere else, no cached import; a file name with a directory part is reduced to its last part
  by Django, and lands in the storage's custom_scripts/ folder only;
- an upload over `max_module_size` (as text or as a file), a 32 MiB highly compressible file, and a gzip-encoded
  body are refused with a 400 or a form error naming the problem, and nothing is written.

Covered already, not repeated: name and file-name validation of the sources layer and the API's JSON errors
(tests/test_module_sources.py), load_yaml()'s confinement as a unit (tests/test_script_api.py), a directory module
named like a NetBox app (tests/test_module_sync.py::test_module_named_like_a_netbox_app_does_not_shadow_it).
"""
import gzip
import importlib
import json
import os
import secrets
import sys

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Q

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import get_script_class, loader, run_script_in_transaction, sync_directory
from netbox_custom_scripts.models import ModuleRevision, Script, ScriptModule

from ..utils import finished, make_user
from .helpers import API, SMALL_MODULE, UI, api_client, fixture_source, ui_client

MODULES = f'{API}/modules/'
ADD = f'{UI}/modules/add/'

# Real packages an upload could try to take the place of (each has a __file__ to compare).
NAMESAKES = ('dcim', 'extras', 'extras.scripts', 'os', 'json', 'django', 'netbox_custom_scripts')


@pytest.fixture
def editor():
    return make_user('sec-module-editor', (ScriptModule, ['view', 'add', 'change', 'delete']))


@pytest.fixture
def scripts_storage(settings, tmp_path):
    """NetBox's `scripts` storage on a directory of this test's own, inside a parent that must stay empty too."""
    root = tmp_path / 'instance' / 'scripts'
    root.mkdir(parents=True)
    settings.SCRIPTS_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        'scripts': {'BACKEND': 'extras.storage.ScriptFileSystemStorage', 'OPTIONS': {'allow_overwrite': True}},
    }
    assert storages['scripts'].location == str(root)
    return root


def files_below(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob('*') if p.is_file() or p.is_symlink())


def assert_nothing_written(storage_root, name=None):
    """No uploaded module, no revision of one, no file under the storage's parent, no cached import."""
    uploaded = ~Q(source=ModuleSourceChoices.DIRECTORY)
    assert not ScriptModule.objects.filter(uploaded).exists()
    assert not ModuleRevision.objects.filter(module__in=ScriptModule.objects.filter(uploaded)).exists()
    assert files_below(storage_root.parent) == []
    if name:
        assert name not in loader._cache and f'{loader.PACKAGE}.{name}' not in sys.modules


#
# Data files
#

@pytest.fixture
def data_tree(tmp_path, settings):
    """
    scripts/ (the scripts directory) with the reader module, a data file and links; outside/ next to it with a
    file whose content must never get out.
    """
    root, outside = tmp_path / 'scripts', tmp_path / 'outside'
    (root / 'sub').mkdir(parents=True)
    outside.mkdir()
    markers = {'inside': f'inside-{secrets.token_hex(6)}', 'outside': f'outside-{secrets.token_hex(6)}'}
    (root / 'reader.py').write_text(fixture_source('data_reader.py'))
    (root / 'inside.yaml').write_text(f'marker: {markers["inside"]}\n')
    (outside / 'secret.yaml').write_text(f'marker: {markers["outside"]}\n')
    (outside / 'evil.py').write_text(SMALL_MODULE)
    os.symlink(root / 'inside.yaml', root / 'sub' / 'link_inside.yaml')
    os.symlink(outside / 'secret.yaml', root / 'escape.yaml')
    os.symlink(outside, root / 'linked_dir')
    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], scripts_dir=str(root))
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}
    return root, outside, markers


@pytest.mark.django_db
def test_data_files_stay_inside_the_scripts_directory_in_a_real_run(data_tree, admin):
    root, outside, markers = data_tree
    result = sync_directory(force=True)
    assert 'reader' in result.created, result
    # The symlinked directory out of the root is not followed: its module is not registered.
    assert not ScriptModule.objects.filter(name__startswith='linked_dir').exists()

    allowed = ['inside.yaml', 'sub/link_inside.yaml', 'sub/../inside.yaml']
    refused = [
        '../outside/secret.yaml', str(outside / 'secret.yaml'), 'escape.yaml', 'linked_dir/secret.yaml',
        'sub/../../outside/secret.yaml', '../' * 12 + 'etc/passwd', '/etc/passwd', '//etc/passwd',
        'sub/../../../' + str(outside.name) + '/secret.yaml',
    ]
    script_class = get_script_class(Script.objects.get(module__name='reader'))
    run = run_script_in_transaction(script_class, {'paths': '\n'.join(allowed + refused)}, user=admin)
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    log = [line.message for line in run.log_entries]
    for path in allowed:
        assert f'read {path!r}: {{"marker": "{markers["inside"]}"}}' in log, log
    for path in refused:
        assert f'refused {path!r}: PermissionError' in log, log
    everything = json.dumps([log, run.output, run.error])
    assert markers['outside'] not in everything and 'root:' not in everything


#
# Modules named like real packages
#

def upload_namesakes(editor, names):
    client = api_client(editor)
    source = fixture_source('namesake.py')
    for name in names:
        response = client.post(MODULES, {'name': name, 'source_code': source}, format='json')
        assert response.status_code == 201, (name, response.content)


def assert_real_packages(originals):
    for name, module in originals.items():
        assert sys.modules[name] is module, name
        assert not hasattr(module, 'SHADOWED_BY_AN_UPLOAD'), name
        assert not getattr(module, '__file__', '').startswith('<custom-scripts>'), name


@pytest.mark.django_db(transaction=True)
def test_namesakes_shadow_nothing_and_data_files_stay_confined_in_a_worker(rq_worker, editor, admin, scripts_storage):
    """One worker test for two contracts (each transactional test costs a database flush)."""
    originals = {name: importlib.import_module(name) for name in NAMESAKES}
    upload_namesakes(editor, NAMESAKES)
    response = ui_client(editor).post(ADD, {'name': 'sys', 'source_code': fixture_source('namesake.py')})
    assert response.status_code == 302, response.content.decode()[:2000]
    response = api_client(editor).post(MODULES, {'name': 'sec_reader', 'source_code': fixture_source('data_reader.py')},
                                       format='json')
    assert response.status_code == 201, response.content

    # In the web process: the uploads are private modules, the real packages untouched and NetBox still working.
    assert_real_packages({**originals, 'sys': sys})
    for name in (*NAMESAKES, 'sys'):
        assert f'{loader.PACKAGE}.{name}' in sys.modules
    admin_ui = ui_client(admin)
    for url in ('/dcim/sites/', '/extras/scripts/', f'{UI}/scripts/', f'{UI}/modules/'):
        assert admin_ui.get(url).status_code == 200, url

    # In a worker: each namesake's script imports its namesake and gets the real package.
    sync_directory()  # basic.Hello, run last below (page views read no directory)
    admin_api = api_client(admin)
    run_ids = {}
    for name in NAMESAKES:
        response = admin_api.post(f'{API}/scripts/{name}.Namesake/run/', {}, format='json')
        assert response.status_code == 201, (name, response.content)
        run_ids[name] = response.json()['id']
    paths = ['../' * 12 + 'etc/passwd', '/etc/passwd', '../' * 12 + 'etc/hostname', '//etc/passwd']
    response = admin_api.post(f'{API}/scripts/sec_reader.ReadDataFiles/run/', {'data': {'paths': '\n'.join(paths)}},
                              format='json')
    assert response.status_code == 201, response.content
    reader_run_id = response.json()['id']
    response = admin_api.post(f'{API}/scripts/basic.Hello/run/', {'data': {'who': 'after'}}, format='json')
    hello_run_id = response.json()['id']

    for name, run_id in run_ids.items():
        run = finished(run_id)
        assert run.status == RunStatusChoices.COMPLETED, (name, run.error, run.traceback)
        output = json.loads(run.output)
        assert output == {
            'module': f'{loader.PACKAGE}.{name}',
            'namesake_file': originals[name].__file__,
            'namesake_shadowed': False,
        }, name
    reader = finished(reader_run_id)
    log = [m for m in (line.message for line in reader.log_entries) if m.startswith(('read ', 'refused '))]
    assert sorted(log) == sorted(f'refused {path!r}: PermissionError' for path in paths), log
    # A script of a directory module, run by the same worker after it imported all of the above.
    hello = finished(hello_run_id)
    assert hello.status == RunStatusChoices.COMPLETED and hello.output == 'hello after', (hello.error, hello.output)


#
# Upload names that are paths
#

PATH_NAMES = [
    '..', '.', '../../etc/passwd', 'a/../../b', '..\\..\\evil', 'C:\\evil', 'C:/evil', '%2e%2e%2fevil', 'evil\x00x',
    ' ../evil', 'evil/', '/', '\\\\server\\share\\evil', 'custom_scripts/../../evil', 'a.b/../c', '~/evil',
]


@pytest.mark.django_db
@pytest.mark.parametrize('name', PATH_NAMES)
def test_a_module_name_that_is_a_path_is_refused(scripts_storage, editor, django_capture_on_commit_callbacks, name):
    with django_capture_on_commit_callbacks(execute=True):
        api = api_client(editor).post(MODULES, {'name': name, 'source_code': SMALL_MODULE}, format='json')
        form = ui_client(editor).post(ADD, {'name': name, 'source_code': SMALL_MODULE})
    assert api.status_code == 400 and 'name' in api.json(), api.content
    assert form.status_code == 200 and form.context['form'].errors.get('name'), form.content.decode()[:2000]
    assert_nothing_written(scripts_storage)


@pytest.mark.django_db
@pytest.mark.parametrize('filename', ['../../evil.py', '..\\..\\evil.py', 'C:\\temp\\evil.py', '/etc/evil.py'])
def test_a_file_name_with_a_directory_part_lands_in_the_storage_only(
        scripts_storage, editor, django_capture_on_commit_callbacks, filename):
    """The web form's counterpart of tests/test_module_sources.py::test_api_a_file_name_with_a_path_is_reduced..."""
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="upload_file"; filename="' + filename.encode() + b'"\r\n'
        b'Content-Type: text/x-python\r\n\r\n' + SMALL_MODULE.encode() + b'\r\n--XX--\r\n'
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = ui_client(editor).generic('POST', ADD, body, content_type='multipart/form-data; boundary=XX')
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ScriptModule.objects.get(source=ModuleSourceChoices.UPLOAD).name == 'evil'
    assert files_below(scripts_storage.parent) == ['scripts/custom_scripts/evil.py']


#
# Oversized and compressed uploads
#

def limit():
    return settings.PLUGINS_CONFIG['netbox_custom_scripts']['max_module_size']


def oversized_text():
    return '#' * limit() + '\n'  # one byte over


def bomb():
    return b'#' * (32 * 1024 * 1024)  # compresses to a few kB


@pytest.mark.django_db
@pytest.mark.parametrize('kind', ['text', 'file', 'bomb'])
def test_an_oversized_upload_is_refused_through_the_api(scripts_storage, editor, django_capture_on_commit_callbacks,
                                                        kind):
    client = api_client(editor)
    with django_capture_on_commit_callbacks(execute=True):
        if kind == 'text':
            response = client.post(MODULES, {'name': 'big', 'source_code': oversized_text()}, format='json')
        else:
            content = oversized_text().encode() if kind == 'file' else bomb()
            response = client.post(MODULES, {'file': SimpleUploadedFile('big.py', content)}, format='multipart')
    assert response.status_code == 400, response.content[:500]
    messages = ' '.join(m for ms in response.json().values() for m in ms)
    assert f'the limit is {limit()} bytes' in messages and 'max_module_size' in messages, messages
    assert_nothing_written(scripts_storage, 'big')


@pytest.mark.django_db
@pytest.mark.parametrize('kind', ['text', 'file', 'bomb'])
def test_an_oversized_upload_is_refused_through_the_form(scripts_storage, editor, django_capture_on_commit_callbacks,
                                                         kind):
    with django_capture_on_commit_callbacks(execute=True):
        if kind == 'text':
            data = {'name': 'big', 'source_code': oversized_text()}
        else:
            content = oversized_text().encode() if kind == 'file' else bomb()
            data = {'upload_file': SimpleUploadedFile('big.py', content)}
        response = ui_client(editor).post(ADD, data)
    assert response.status_code == 200
    errors = ' '.join(str(e) for es in response.context['form'].errors.values() for e in es)
    assert f'the limit is {limit()} bytes' in errors, errors
    assert_nothing_written(scripts_storage, 'big')


@pytest.mark.django_db
def test_a_compressed_request_body_is_not_inflated(scripts_storage, editor, django_capture_on_commit_callbacks):
    """A gzip-encoded body (32 MiB of source once inflated) is taken for what it is: not JSON, not a module."""
    payload = gzip.compress(json.dumps({'name': 'big', 'source_code': '#' * (32 * 1024 * 1024)}).encode())
    assert len(payload) < 100 * 1024
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(editor).generic('POST', MODULES, payload, content_type='application/json',
                                              HTTP_CONTENT_ENCODING='gzip')
        upload = api_client(editor).post(MODULES, {'file': SimpleUploadedFile('big.py', payload)}, format='multipart')
    assert response.status_code == 400 and 'JSON parse error' in response.json()['detail'], response.content
    assert upload.status_code == 400 and 'not UTF-8' in upload.json()['file'][0], upload.content
    assert_nothing_written(scripts_storage, 'big')
