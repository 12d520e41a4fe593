"""
Modules on disk become ScriptModule/ModuleRevision/Script records: created once, re-synced when a file changes,
marked missing when it goes away, and recorded with their error (and line) when they do not import.
"""
import os
import textwrap

import pytest

from netbox_custom_scripts.choices import ModuleStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import ModuleRevision, Script, ScriptModule

pytestmark = pytest.mark.django_db


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    # Make sure the stat fingerprint changes even within one mtime tick.
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


HELLO = """
    from netbox_custom_scripts.scripts import Script, StringVar

    name = 'Greetings'

    class Zulu(Script):
        def run(self, data, commit):
            pass

    class Hello(Script):
        class Meta:
            name = 'Say hello'
        who = StringVar()

        def run(self, data, commit):
            self.log_info(data['who'])

    class Alpha(Script):
        def run(self, data, commit):
            pass

    script_order = (Hello,)
"""


def test_directory_sync_registers_modules_and_scripts(tmp_path):
    write(tmp_path, 'greetings.py', HELLO)
    result = sync_directory(root=str(tmp_path))
    assert result.created == ['greetings']
    module = ScriptModule.objects.get(name='greetings')
    assert module.display_name == 'Greetings'
    assert module.status == ModuleStatusChoices.OK
    assert module.current_revision.number == 1
    # script_order first, the rest alphabetically
    assert list(module.scripts.order_by('weight').values_list('class_name', flat=True)) == ['Hello', 'Alpha', 'Zulu']
    hello = module.scripts.get(class_name='Hello')
    assert hello.name == 'Say hello'
    assert hello.full_name == 'greetings.Hello'
    assert hello.variables[0]['name'] == 'who' and hello.variables[0]['type'] == 'StringVar'


def test_unchanged_directory_is_not_reimported(tmp_path):
    write(tmp_path, 'greetings.py', HELLO)
    sync_directory(root=str(tmp_path))
    assert sync_directory(root=str(tmp_path)) is None  # fingerprint unchanged: nothing checked
    result = sync_directory(root=str(tmp_path), force=True)
    assert not result.changed
    assert ModuleRevision.objects.count() == 1


def test_changed_file_gets_a_new_revision_and_removed_class_is_soft_deleted(tmp_path):
    write(tmp_path, 'greetings.py', HELLO)
    sync_directory(root=str(tmp_path))
    write(tmp_path, 'greetings.py', HELLO.replace('class Zulu', 'class Yankee'))
    result = sync_directory(root=str(tmp_path))
    assert result.updated == ['greetings']
    module = ScriptModule.objects.get(name='greetings')
    assert module.current_revision.number == 2
    assert list(module.revisions.values_list('number', flat=True)) == [2, 1]
    assert Script.objects.get(class_name='Zulu').is_active is False
    assert Script.objects.get(class_name='Yankee').is_active is True

    # The class comes back: the same record is re-activated, so its history stays attached.
    zulu_pk = Script.objects.get(class_name='Zulu').pk
    write(tmp_path, 'greetings.py', HELLO)
    sync_directory(root=str(tmp_path))
    assert Script.objects.get(pk=zulu_pk).is_active is True


def test_broken_module_is_recorded_with_its_line_and_others_still_load(tmp_path):
    write(tmp_path, 'greetings.py', HELLO)
    write(tmp_path, 'broken.py', """
        from netbox_custom_scripts.scripts import Script

        class Broken(Script)
            pass
    """)
    write(tmp_path, 'failing_import.py', """
        import os

        raise RuntimeError('no network at import time')
    """)
    result = sync_directory(root=str(tmp_path))
    assert sorted(result.created) == ['broken', 'failing_import', 'greetings']
    broken = ScriptModule.objects.get(name='broken')
    assert broken.status == ModuleStatusChoices.ERROR
    assert broken.error.startswith('Syntax error')
    assert broken.error_line == 4
    failing = ScriptModule.objects.get(name='failing_import')
    assert failing.error == 'Import failed: RuntimeError: no network at import time'
    assert failing.error_line == 4
    assert not failing.is_runnable
    assert ScriptModule.objects.get(name='greetings').is_runnable


def test_meta_netbox_tolerates_loads_with_the_reason_as_warnings(tmp_path):
    write(tmp_path, 'badmeta.py', """
        from netbox_custom_scripts.scripts import Script, StringVar

        class BadMeta(Script):
            class Meta:
                job_timeout = 'soon'
                notifications_default = 'sometimes'
                field_order = ('nonexistent',)

            name_ = StringVar()
    """)
    sync_directory(root=str(tmp_path))
    module = ScriptModule.objects.get(name='badmeta')
    # As on NetBox, it loads; its runs are refused until the timeout and notifications are fixed.
    assert module.status == ModuleStatusChoices.OK
    warnings = module.scripts.get().warnings
    assert len(warnings) == 3
    assert warnings[0].startswith("Meta.job_timeout 'soon' is not a positive number of seconds")
    assert warnings[1].startswith("Meta.notifications_default 'sometimes' is not one of always, on_failure, never")
    assert warnings[2] == "Meta.field_order names 'nonexistent', which is not a variable: ignored"


def test_removed_file_marks_module_missing(tmp_path):
    write(tmp_path, 'greetings.py', HELLO)
    sync_directory(root=str(tmp_path))
    (tmp_path / 'greetings.py').unlink()
    result = sync_directory(root=str(tmp_path))
    assert result.missing == ['greetings']
    module = ScriptModule.objects.get(name='greetings')
    assert module.status == ModuleStatusChoices.MISSING
    assert not module.scripts.filter(is_active=True).exists()


def test_package_with_relative_imports(tmp_path):
    write(tmp_path, 'branches/__init__.py', '')
    write(tmp_path, 'branches/helpers.py', """
        def switch_name(site, index):
            return f'{site}-sw{index}'
    """)
    write(tmp_path, 'branches/access.py', """
        from netbox_custom_scripts.scripts import Script
        from .helpers import switch_name

        class Names(Script):
            def run(self, data, commit):
                return switch_name('ams', 1)
    """)
    result = sync_directory(root=str(tmp_path))
    assert 'branches.access' in result.created and not result.errors
    assert Script.objects.get(module__name='branches.access').full_name == 'branches.access.Names'


def test_module_named_like_a_netbox_app_does_not_shadow_it(tmp_path):
    import circuits

    write(tmp_path, 'circuits.py', """
        from netbox_custom_scripts.scripts import Script

        class Audit(Script):
            def run(self, data, commit):
                pass
    """)
    sync_directory(root=str(tmp_path))
    import sys

    assert sys.modules['circuits'] is circuits
    assert Script.objects.get(module__name='circuits').full_name == 'circuits.Audit'


def test_invalid_file_names_are_skipped_with_a_reason(tmp_path):
    write(tmp_path, 'my-script.py', 'x = 1\n')
    write(tmp_path, 'ok.py', 'x = 1\n')
    result = sync_directory(root=str(tmp_path))
    assert 'my-script.py' in result.errors
    assert 'Invalid module name' in result.errors['my-script.py']
    assert list(ScriptModule.objects.values_list('name', flat=True)) == ['ok']


def test_a_variable_named_like_a_meta_option_is_an_ordinary_variable(tmp_path):
    write(tmp_path, 'shadow.py', """
        from netbox_custom_scripts.scripts import Script, StringVar

        class Shadow(Script):
            name = StringVar()

            def run(self, data, commit):
                pass
    """)
    write(tmp_path, 'fine.py', HELLO)
    result = sync_directory(root=str(tmp_path))
    shadow = ScriptModule.objects.get(name='shadow')
    # As on NetBox (tests/test_compat_names.py): the script keeps its own name.
    assert shadow.status == ModuleStatusChoices.OK
    assert shadow.scripts.get().name == 'Shadow'
    assert [variable['name'] for variable in shadow.scripts.get().variables] == ['name']
    assert 'fine' in result.created and ScriptModule.objects.get(name='fine').is_runnable
