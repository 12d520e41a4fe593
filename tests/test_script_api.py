"""
The Script class authors subclass (netbox_custom_scripts.scripts / extras.scripts inside a module):

- Meta options read with their defaults; Script.validate_definition() rejects every invalid value of the plugin's
  own options at module load, with the reason, and variables named like what NetBox's Script itself needs or run
  parameters; what NetBox tolerates is returned as warnings (tests/test_compat_meta.py has the modules);
- variable order: declaration order (base classes first, a redefined variable keeping its place), Meta.field_order,
  Meta.fieldsets winning over it, the "Script Execution Parameters" group appended;
- module attributes `name` and `script_order` (then the rest alphabetically by name), what counts as a script;
- logging: log_debug/info/success/warning/failure with an optional object, a message of None or '' ignored,
  log_failure marking the run failed, test_* methods counted per level;
- progress() validation, save_file() name sanitising, load_yaml()/load_json() confined to the scripts directory
  (absolute paths, `..` and symlinks out of it refused);
- in a run: self.request (the user), the return value as output, snapshots giving change records, AbortScript.
"""
import json
import math
import os
import textwrap

import pytest
from dcim.models import Site
from django.utils.translation import gettext_lazy

from netbox_custom_scripts.choices import ModuleStatusChoices, RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import Script as ScriptRecord
from netbox_custom_scripts.models import ScriptModule
from netbox_custom_scripts.scripting import ScriptDefinitionError
from netbox_custom_scripts.scripting.definition import check_definition
from netbox_custom_scripts.scripting.log import LogLevel
from netbox_custom_scripts.scripting.meta import reserved_names
from netbox_custom_scripts.scripts import (
    AbortScript,
    BaseScript,
    BooleanVar,
    IntegerVar,
    ObjectVar,
    Script,
    StringVar,
)
from netbox_custom_scripts.testing import run_script_in_transaction

from .utils import make_user


def script_with(meta=None, base=Script, **attrs):
    if meta is not None:
        attrs['Meta'] = type('Meta', (), meta)
    return type('Example', (base,), attrs)


def definition_errors(meta=None, **attrs):
    with pytest.raises(ScriptDefinitionError) as excinfo:
        script_with(meta, **attrs).validate_definition()
    return excinfo.value.errors


# Meta

def test_meta_defaults():
    cls = script_with()
    assert (cls.name, cls.description, cls.field_order, cls.fieldsets) == ('Example', '', None, None)
    assert (cls.commit_default, cls.scheduling_enabled, cls.job_timeout, cls.notifications_default) == (
        True, True, None, 'always'
    )
    assert (cls.hidden, cls.singleton, cls.queue, cls.sensitive_variables, cls.object_types) == (
        False, False, None, (), ()
    )
    assert cls.job_timeout_seconds() is None
    cls.validate_definition()


def test_every_meta_option_is_read():
    cls = script_with({
        'name': 'Nice name', 'description': 'Does *things*', 'field_order': ('b', 'a'), 'commit_default': False,
        'scheduling_enabled': False, 'job_timeout': '1h', 'notifications_default': 'on_failure', 'hidden': True,
        'singleton': True, 'queue': 'low', 'sensitive_variables': ['b'], 'object_types': ('dcim.site',),
    }, a=StringVar(), b=StringVar())
    cls.validate_definition()
    assert (cls.name, str(cls()), cls.description) == ('Nice name', 'Nice name', 'Does *things*')
    assert (cls.commit_default, cls.scheduling_enabled, cls.job_timeout_seconds()) == (False, False, 3600)
    assert (cls.notifications_default, cls.hidden, cls.singleton, cls.queue) == ('on_failure', True, True, 'low')
    assert (cls.sensitive_variables, cls.object_types) == (('b',), ('dcim.site',))
    assert list(cls._get_vars()) == ['b', 'a']
    # Translated strings are text too.
    script_with({'name': gettext_lazy('Translated'), 'fieldsets': ((gettext_lazy('Group'), ('a',)),)},
                a=StringVar()).validate_definition()


@pytest.mark.parametrize('meta, reason', [
    ({'hidden': None}, 'Meta.hidden must be True or False'),
    ({'singleton': 'no'}, 'Meta.singleton must be True or False'),
    ({'approval_required': 'yes'}, "Meta.approval_required must be True or False (found 'yes')"),
    ({'queue': 'nonexistent'},
     "Meta.queue 'nonexistent' is not an RQ queue of this NetBox (known: default, high, low)"),
    ({'sensitive_variables': ('pw',)}, "Meta.sensitive_variables names 'pw', which is not a variable"),
    ({'sensitive_variables': 'a'}, 'Meta.sensitive_variables must be a list or tuple of variable names'),
    ({'object_types': 'dcim.site'}, 'Meta.object_types must be a sequence of "app_label.model" names'),
    ({'object_types': ('site',)}, 'Meta.object_types must be a sequence of "app_label.model" names'),
    ({'object_types': ('dcim.sites',)}, "Meta.object_types names 'dcim.sites', which is not a model of this NetBox"),
])
def test_invalid_plugin_meta_is_rejected_with_the_reason(meta, reason):
    errors = definition_errors(meta, a=StringVar())
    assert any(error.startswith(reason) for error in errors), errors


@pytest.mark.parametrize('meta, warning', [
    ({'name': 5}, "Meta.name should be a string (found 5): 'Example' is shown"),
    ({'description': ['x']}, 'Meta.description should be a string'),
    ({'commit_default': 'yes'}, "Meta.commit_default should be True or False (found 'yes'); like NetBox, the plugin "
                                'takes it as True'),
    ({'scheduling_enabled': 0}, 'Meta.scheduling_enabled should be True or False (found 0); like NetBox, the plugin '
                                'takes it as False'),
    ({'job_timeout': 'soon'}, "Meta.job_timeout 'soon' is not a positive number of seconds or a duration such as "
                              "'30m': runs are refused until it is fixed, as on NetBox"),
    ({'job_timeout': 0}, 'Meta.job_timeout 0 is not a positive number'),
    ({'job_timeout': -5}, 'Meta.job_timeout -5 is not a positive number'),
    ({'job_timeout': [60]}, 'Meta.job_timeout [60] is not a positive number'),
    ({'notifications_default': 'sometimes'},
     "Meta.notifications_default 'sometimes' is not one of always, on_failure, never: runs that do not choose"),
    ({'field_order': 'a'}, "Meta.field_order should be a list or tuple of variable names (found 'a'): ignored"),
    ({'field_order': ('a', 'zz')}, "Meta.field_order names 'zz', which is not a variable: ignored"),
    ({'field_order': ('a', 'a')}, "Meta.field_order lists 'a' more than once: the first counts"),
    ({'fieldsets': ('a', 'b')}, 'Meta.fieldsets should be a sequence of (title, (variable, ...)) pairs: ignored'),
    ({'fieldsets': (('Group', 'a'),)}, 'Meta.fieldsets should be a sequence of (title, (variable, ...)) pairs'),
    ({'fieldsets': ((None, ('a',)),)}, 'Meta.fieldsets should be a sequence of (title, (variable, ...)) pairs'),
    ({'fieldsets': (('One', ('a',)), ('Two', ('a', 'nope')))},
     "Meta.fieldsets names 'nope', which is not a variable: left out"),
    ({'fieldsets': (('One', ('a',)), ('Two', ('a',)))}, "Meta.fieldsets lists 'a' more than once"),
    ({'commit_defualt': False}, 'unknown Meta option(s) ignored, as NetBox ignores them: commit_defualt (known: '
                                'name, description'),
])
def test_meta_netbox_tolerates_is_a_warning_not_an_error(meta, warning):
    warnings = script_with(meta, a=StringVar()).validate_definition()
    assert any(str(w).startswith(warning) for w in warnings), warnings


def test_every_problem_is_listed_at_once():
    errors = definition_errors({'singleton': 'x', 'hidden': 'x', 'job_timeout': 'x'}, a=StringVar(),
                               run=StringVar())
    assert len(errors) == 3  # the job_timeout is a warning


@pytest.mark.parametrize('name', [
    'run', 'pre_run', 'post_run', 'run_tests', 'log_info', 'log_failure', '_log', '_get_vars', 'get_fieldsets',
    'as_form', 'validate_meta', 'get_job_data', '_commit', '_schedule_at', '_interval', '_cron', '_notifications',
    '_queue',
])
def test_variables_may_not_replace_what_netboxs_script_needs(name):
    check = check_definition(script_with(**{name: StringVar()}))
    assert (check.errors, check.warnings) == ([], [])
    assert len(check.unusable) == 1 and repr(name) in check.unusable[0]
    assert name in reserved_names()


def test_query_params_references_to_no_variable_are_a_warning():
    warnings = script_with(site=ObjectVar(model=Site, query_params={'region_id': '$regoin'})).validate_definition()
    assert warnings == ['site: query_params refers to $regoin, which is not a variable: that filter is left out']


# Variable order and form layout

class Base(Script):
    first = StringVar()
    second = StringVar()


class Child(Base):
    third = StringVar()
    first = IntegerVar()  # redefined: keeps its place


class Pruned(Child):
    second = None  # no longer a variable


def test_declaration_order_with_inheritance():
    assert list(Base._get_vars()) == ['first', 'second']
    assert list(Child._get_vars()) == ['first', 'second', 'third']
    assert isinstance(Child._get_vars()['first'], IntegerVar)
    assert list(Pruned._get_vars()) == ['first', 'third']


def test_field_order_then_the_rest():
    cls = script_with({'field_order': ['c', 'a']}, a=StringVar(), b=StringVar(), c=StringVar(), d=StringVar())
    assert list(cls._get_vars()) == ['c', 'a', 'b', 'd']
    assert cls.get_fieldsets() == [
        ('Script Data', ('c', 'a', 'b', 'd')),
        ('Script Execution Parameters', ('_commit', '_schedule_at', '_interval', '_cron', '_notifications')),
    ]


def test_fieldsets_win_over_field_order_and_leave_out_the_rest():
    cls = script_with({'field_order': ['c', 'a'], 'fieldsets': (('One', ('b', 'a')), ('Two', ('c',))),
                       'scheduling_enabled': False},
                      a=StringVar(), b=StringVar(), c=StringVar(), d=StringVar(default='x'))
    assert list(cls._get_vars()) == ['a', 'b', 'c', 'd']  # declaration order: field_order ignored
    assert cls.get_fieldsets() == [
        ('One', ('b', 'a')), ('Two', ('c',)), ('Script Execution Parameters', ('_commit', '_notifications')),
    ]
    assert [v['name'] for v in cls.describe_variables()] == ['a', 'b', 'c', 'd']


# Modules: `name`, `script_order`, what is a script

def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.mark.django_db
def test_module_name_and_script_order(tmp_path):
    write(tmp_path, 'ordered.py', """
        from extras.scripts import BaseScript, Script, StringVar


        class Helper(BaseScript):
            '''A shared base: not listed.'''
            note = StringVar(required=False)


        class Zulu(Script):
            class Meta:
                name = 'Alpha by name'


        class Bravo(Helper, Script):
            pass


        class Charlie(Script):
            pass


        class Delta(Script):
            pass


        name = 'Ordered scripts'
        script_order = (Delta, Bravo)
    """)
    write(tmp_path, 'unnamed.py', """
        from extras.scripts import Script
        from _custom_scripts.ordered import Charlie  # an imported Script is listed here too, as in NetBox


        class Own(Script):
            pass
    """)
    result = sync_directory(root=str(tmp_path))
    assert not result.errors
    module = ScriptModule.objects.get(name='ordered')
    assert module.display_name == 'Ordered scripts'
    assert list(module.scripts.order_by('weight').values_list('class_name', flat=True)) == [
        'Delta', 'Bravo', 'Zulu', 'Charlie'  # script_order, then by name: 'Alpha by name' < 'Charlie'
    ]
    assert [v['name'] for v in ScriptRecord.objects.get(class_name='Bravo', module=module).variables] == ['note']
    unnamed = ScriptModule.objects.get(name='unnamed')
    assert unnamed.display_name == 'unnamed'
    assert list(unnamed.scripts.order_by('weight').values_list('class_name', flat=True)) == ['Charlie', 'Own']


@pytest.mark.django_db
def test_invalid_plugin_options_stop_the_module_at_load(tmp_path):
    write(tmp_path, 'bad.py', """
        from extras.scripts import Script, StringVar


        class Bad(Script):
            class Meta:
                queue = 'nowhere'
                singleton = 'yes'

            request = StringVar()  # a name NetBox leaves free
    """)
    sync_directory(root=str(tmp_path))
    module = ScriptModule.objects.get(name='bad')
    assert module.status == ModuleStatusChoices.ERROR
    assert module.error.startswith('Bad: ')
    assert "Meta.queue 'nowhere' is not an RQ queue" in module.error
    assert "Meta.singleton must be True or False (found 'yes')" in module.error
    assert 'request' not in module.error


# Logging

class Logs(Script):
    def run(self, data, commit):
        pass


class Linked:
    def __init__(self, url):
        self.url = url

    def __str__(self):
        return 'linked thing'

    def get_absolute_url(self):
        if self.url is None:
            raise RuntimeError('no page')
        return self.url


def entries(script):
    return [(e.level, e.message, e.object_repr, e.object_url, e.object_type, e.object_id, e.test)
            for e in script._reporter.entries]


@pytest.mark.django_db
def test_log_levels_and_objects():
    site = Site.objects.create(name='ams', slug='ams')
    script = Logs()
    script.log_debug('d')
    script.log_info('**bold** info', site)
    script.log_success('s', Linked('/x/'))
    script.log_warning('w', Linked(None))
    script.log_info(42)
    assert entries(script) == [
        (LogLevel.DEBUG, 'd', '', '', '', None, ''),
        (LogLevel.INFO, '**bold** info', 'ams', '', 'dcim.site', site.pk, ''),  # URL resolved when shown
        (LogLevel.SUCCESS, 's', 'linked thing', '/x/', '', None, ''),
        (LogLevel.WARNING, 'w', 'linked thing', '', '', None, ''),
        (LogLevel.INFO, '42', '', '', '', None, ''),
    ]
    assert script.failed is False


def test_empty_messages_are_ignored_and_failure_marks_the_run_failed():
    script = Logs()
    script.log_info(None)
    script.log_warning('')
    script.log_success()
    assert entries(script) == [] and script.failed is False
    script.log_failure()
    assert entries(script) == [] and script.failed is True
    script.log_failure('broken')
    assert entries(script)[0][:2] == (LogLevel.FAILURE, 'broken')


class Report(Script):
    def pre_run(self):
        self.log_info('before')

    def test_b(self):
        self.log_success('b ok')
        self.log_failure(None)

    def test_a(self):
        self.log_warning('a meh')
        self.log_debug('a debug')

    def post_run(self):
        self.log_info('after')


def test_test_methods_run_in_name_order_and_are_counted():
    script = Report()
    assert Report.test_method_names() == ['test_a', 'test_b']
    script.run({}, False)
    assert [(e.message, e.test) for e in script._reporter.entries] == [
        ('before', ''), ('a meh', 'test_a'), ('a debug', 'test_a'), ('b ok', 'test_b'), ('after', ''),
    ]
    # As NetBox's: counts per level, and each method's lines (time, level, object, URL, message) in `log`.
    logs = {name: [entry[1:] for entry in results.pop('log')] for name, results in script.tests.items()}
    assert script.tests == {
        'test_a': {'success': 0, 'info': 0, 'warning': 1, 'failure': 0},
        'test_b': {'success': 1, 'info': 0, 'warning': 0, 'failure': 1},
    }
    assert logs == {
        'test_a': [('warning', None, None, 'a meh'), ('debug', None, None, 'a debug')],
        'test_b': [('success', None, None, 'b ok')],
    }
    assert script.failed is True


# progress(), save_file()

@pytest.mark.parametrize('done, total', [
    (-1, 10), (1, -10), ('1', 10), (1, None), (True, 10), (1, False), (math.nan, 10), (1, math.inf),
])
def test_progress_refuses_what_is_not_a_count(done, total):
    with pytest.raises(ValueError, match='progress'):
        Logs().progress(done, total)


def test_progress():
    script = Logs()
    script.progress(0, 0)
    script.progress(2.5, 10, 'working')
    assert script._reporter.progress == (2.5, 10, 'working')
    script.progress(12, 10, 42)  # beyond the total shows as complete
    assert script._reporter.progress == (12, 10, '42')


@pytest.mark.parametrize('name, saved', [
    ('report.csv', 'report.csv'),
    ('../../etc/passwd', 'passwd'),
    ('/tmp/out.txt', 'out.txt'),
    ('dir\\windows.txt', 'windows.txt'),
    ('evil\r\nX-Header: 1.txt', 'evilX-Header: 1.txt'),
    ('a/b\x00c\x7f.txt', 'bc.txt'),
    (' spaced .txt ', 'spaced .txt'),
    ('x' * 300 + '.json', 'x' * 250 + '.json'),
    ('y' * 300, 'y' * 255),
    (123, '123'),
])
def test_save_file_names_are_sanitised(name, saved):
    script = Logs()
    script.save_file(name, 'content')
    assert script._reporter.files == [(saved, 'content', None)]


@pytest.mark.parametrize('name', ['', '.', '..', '/', 'a/', '\x00', '  '])
def test_save_file_refuses_names_with_nothing_left(name):
    with pytest.raises(ValueError, match='invalid file name'):
        Logs().save_file(name, 'x')


def test_save_file_content_and_type():
    script = Logs()
    script.save_file('a.bin', bytearray(b'\x00\x01'), 'application/x-thing')
    assert script._reporter.files == [('a.bin', b'\x00\x01', 'application/x-thing')]
    with pytest.raises(TypeError, match='str or bytes'):
        script.save_file('a.json', {'a': 1})
    for content_type in ('html', 'text/html\r\nX-Evil: 1', 5):
        with pytest.raises(ValueError, match='content type'):
            script.save_file('a.txt', 'x', content_type)


@pytest.mark.django_db
def test_saved_files_are_attached_to_the_run():
    class Exports(Script):
        def run(self, data, commit):
            self.save_file('../sites.csv', 'name\nams\n')
            self.save_file('raw.bin', b'\xff')

    run = run_script_in_transaction(Exports)
    assert list(run.files.values_list('name', 'content_type', 'size')) == [
        ('sites.csv', 'text/plain; charset=utf-8', 9), ('raw.bin', 'application/octet-stream', 1),
    ]


# load_yaml(), load_json()

@pytest.fixture
def data_tree(tmp_path):
    root = tmp_path / 'scripts'
    (root / 'branches').mkdir(parents=True)
    (root / 'branches' / 'sites.yaml').write_text('sites:\n  - ams\n  - par\n')
    (root / 'branches' / 'sites.json').write_text('{"sites": ["nyc"]}')
    (root / 'shared.yaml').write_text('shared: true\n')
    (tmp_path / 'secret.yaml').write_text('password: hunter2\n')
    os.symlink(tmp_path / 'secret.yaml', root / 'branches' / 'escape.yaml')
    os.symlink(root / 'shared.yaml', root / 'branches' / 'inside.yaml')
    return root


def reader(root, module_dir='branches'):
    # What the loader records on a class it loaded (see execution/loader.py).
    return type('Reader', (Script,), {
        '_custom_scripts_loaded_from': {'module': 'branches', 'data_root': str(root), 'module_dir': module_dir},
    })()


def test_data_files_next_to_the_module(data_tree):
    script = reader(data_tree)
    assert script.load_yaml('sites.yaml') == {'sites': ['ams', 'par']}
    assert script.load_json('sites.json') == {'sites': ['nyc']}
    assert script.load_yaml('../shared.yaml') == {'shared': True}  # still inside the scripts directory
    assert script.load_yaml('inside.yaml') == {'shared': True}      # a symlink that stays inside
    assert reader(data_tree, '').load_yaml('branches/sites.yaml') == {'sites': ['ams', 'par']}
    with pytest.raises(FileNotFoundError):
        script.load_yaml('missing.yaml')


@pytest.mark.parametrize('filename', [
    '../../secret.yaml', 'escape.yaml', '../../scripts/../secret.yaml', '../..',
])
def test_data_files_cannot_escape_the_scripts_directory(data_tree, filename):
    with pytest.raises(PermissionError, match='outside the scripts directory'):
        reader(data_tree).load_yaml(filename)


def test_data_files_refuse_absolute_paths(data_tree):
    script = reader(data_tree)
    for filename in (str(data_tree / 'shared.yaml'), '/etc/hostname', 'a\x00b'):
        with pytest.raises(PermissionError):
            script.load_json(filename)


def test_no_data_directory():
    with pytest.raises(FileNotFoundError, match='no directory to read data files from'):
        Logs().load_yaml('x.yaml')


@pytest.mark.django_db
def test_a_loaded_module_reads_its_own_directory(tmp_path, settings):
    write(tmp_path, 'branches/plan.py', """
        from netbox_custom_scripts.scripts import Script


        class Plan(Script):
            def run(self, data, commit):
                return self.load_yaml('plan.yaml')
    """)
    write(tmp_path, 'branches/plan.yaml', 'sites: [ams]\n')
    settings.PLUGINS_CONFIG = {
        **settings.PLUGINS_CONFIG,
        'netbox_custom_scripts': {**settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'scripts_dir': str(tmp_path)},
    }
    sync_directory(root=str(tmp_path))
    from netbox_custom_scripts.execution import get_script_class

    script_class = get_script_class(ScriptRecord.objects.get(class_name='Plan'))
    run = run_script_in_transaction(script_class)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert json.loads(run.output) == {'sites': ['ams']}


# In a run

@pytest.mark.django_db
def test_request_output_snapshots_and_abort():
    site = Site.objects.create(name='old', slug='old')

    class Rename(Script):
        target = ObjectVar(model=Site)
        new_name = StringVar()
        give_up = BooleanVar()

        def run(self, data, commit):
            self.log_info(f'Running as {self.request.user.username}')
            target = data['target']
            target.snapshot()
            target.name = data['new_name']
            target.full_clean()
            target.save()
            if data['give_up']:
                raise AbortScript('Changed my mind')
            return {'renamed': target.pk}

    alice = make_user('alice', is_superuser=True)
    run = run_script_in_transaction(Rename, {'target': site.pk, 'new_name': 'new'}, user=alice)
    assert run.status == RunStatusChoices.COMPLETED
    assert run.log_entries.first().message == 'Running as alice'
    assert (run.output, run.output_format) == (json.dumps({'renamed': site.pk}, indent=2), 'json')
    change = run.changes.get()
    assert (change.action, change.prechange_data['name'], change.postchange_data['name']) == ('update', 'old', 'new')

    aborted = run_script_in_transaction(Rename, {'target': site.pk, 'new_name': 'newer', 'give_up': True}, user=alice)
    assert (aborted.status, aborted.error, aborted.traceback) == (RunStatusChoices.ABORTED, 'Changed my mind', '')
    site.refresh_from_db()
    assert site.name == 'new'


@pytest.mark.django_db
@pytest.mark.parametrize('value, output, output_format', [
    ('text', 'text', 'text'), (None, '', 'text'), (['a', 1], '[\n  "a",\n  1\n]', 'json'), (42, '42', 'text'),
])
def test_return_value_is_the_output(value, output, output_format):
    returns = type('Returns', (Script,), {'run': lambda self, data, commit: value})
    run = run_script_in_transaction(returns)
    assert (run.output, run.output_format) == (output, output_format)


def test_identity():
    assert (Logs.class_name, Logs.module, Logs.full_name) == ('Logs', __name__, f'{__name__}.Logs')
    assert issubclass(Script, BaseScript) and Logs().request is None


@pytest.mark.django_db
def test_a_module_with_an_invalid_name_is_reported_not_fatal(tmp_path):
    write(tmp_path, 'badname.py', """
        from extras.scripts import Script


        class Second(Script):
            class Meta:
                name = 5


        class First(Script):
            pass
    """)
    write(tmp_path, 'good.py', """
        from extras.scripts import Script


        class Fine(Script):
            pass
    """)
    result = sync_directory(root=str(tmp_path))
    assert result.errors == {}  # NetBox shows such a module; so does the plugin, saying what to fix
    second = ScriptRecord.objects.get(module__name='badname', class_name='Second')
    assert second.name == 'Second'
    assert second.warnings == ["Meta.name should be a string (found 5): 'Second' is shown"]
    assert ScriptModule.objects.get(name='good').status == ModuleStatusChoices.OK
