"""
The public API of NetBox's built-in Script, on the plugin's: what real modules and their authors' unit tests call.

- `self.messages`: the run's log lines as NetBox keeps them (production scripts end with
  `return format(self.messages)`); a test_* method's lines go to its entry in `self.tests`, as on NetBox.
- `get_job_data()`, `as_form(data, files, initial)`, `source` / `findsource()` / `filename` (from the module
  revision the class was loaded from, which the plugin keeps in the database), `module` / `root_module()`,
  `get_fieldsets()` (the same fields), and `get_module_and_script` among the exports of `extras.scripts` as
  modules see it.
"""
import ast
import inspect

import pytest
from dcim.models import Site
from django.core.files.uploadedfile import SimpleUploadedFile

from netbox_custom_scripts import scripts
from netbox_custom_scripts.choices import ModuleSourceChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import get_script_class, save_source, submit_run
from netbox_custom_scripts.models import Script as ScriptRecord
from netbox_custom_scripts.models import ScriptModule

from .utils import make_user

pytestmark = pytest.mark.django_db

# As found in production: do the work, log each object, hand the log back as the output.
RENAME_SITES = """\
from dcim.models import Site
from extras.scripts import *


class RenameSites(Script):
    class Meta:
        name = 'Rename sites'

    prefix = StringVar()

    def run(self, data, commit):
        for site in Site.objects.order_by('name'):
            old = site.name
            site.name = data['prefix'] + old
            site.save()
            self.log_success(f'Renamed {old}', site)
        self.log_info('Done')
        return format(self.messages)
"""


def register(name, source):
    module = save_source(name, source, source=ModuleSourceChoices.UPLOAD, file_path=f'{name.replace(".", "/")}.py')
    assert module.status == 'ok', module.error
    return module


def load(name, class_name):
    return get_script_class(ScriptRecord.objects.get(module__name=name, class_name=class_name))


@pytest.mark.django_db(transaction=True)  # a run executes outside the test's transaction
def test_a_script_returns_its_own_log_with_format_self_messages():
    for name in ('alpha', 'beta'):
        Site.objects.create(name=name, slug=name)
    register('rename', RENAME_SITES)
    script = ScriptRecord.objects.get(class_name='RenameSites')
    run = submit_run(script, user=make_user('admin', is_superuser=True), data={'prefix': 'x-'}, commit=False,
                     source=RunSourceChoices.CLI, immediate=True)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    messages = ast.literal_eval(run.output)
    assert [(m['status'], m['message'], m['obj']) for m in messages] == [
        ('success', 'Renamed alpha', 'x-alpha'), ('success', 'Renamed beta', 'x-beta'), ('info', 'Done', None),
    ]
    assert messages[0]['url'].startswith('/dcim/sites/') and messages[2]['url'] is None
    assert all(set(m) == {'time', 'status', 'message', 'obj', 'url'} for m in messages)
    # The run's own log is recorded as before, next to it.
    assert [line.message for line in run.log_entries][:3] == ['Renamed alpha', 'Renamed beta', 'Done']


class SiteChecks(scripts.Script):
    """Report-style: test_* methods and no run()."""

    def test_descriptions(self):
        for site in Site.objects.order_by('name'):
            if site.description:
                self.log_success('Has a description', site)
            else:
                self.log_failure('No description', site)

    def test_zero_sites_is_fine(self):
        self.log_info(None)  # counted, not recorded, as on NetBox


def test_report_style_logs_go_to_each_tests_entry_as_on_netbox():
    site = Site.objects.create(name='hq', slug='hq', description='Head office')
    Site.objects.create(name='lab', slug='lab')
    script = SiteChecks()
    script.log_info('before the tests')
    script.run({}, False)
    data = script.get_job_data()
    assert set(data) == {'log', 'output', 'tests'} and data['output'] == ''
    assert [(m['status'], m['message']) for m in data['log']] == [('info', 'before the tests')]
    results = data['tests']['test_descriptions']
    assert (results['success'], results['failure'], results['info'], results['warning']) == (1, 1, 0, 0)
    assert [entry[1:] for entry in results['log']] == [
        ('success', 'hq', site.get_absolute_url(), 'Has a description'),
        ('failure', 'lab', Site.objects.get(name='lab').get_absolute_url(), 'No description'),
    ]
    quiet = data['tests']['test_zero_sites_is_fine']
    assert (quiet['info'], quiet['log']) == (1, [])
    assert script.failed


TWO_CLASSES = '''\
from extras.scripts import Script, StringVar


class Helper:
    """class First is mentioned here, indented, and must not be taken for it."""


class First(Script):
    label = StringVar()

    def run(self, data, commit):
        return 'first'


class Second(Script):
    def run(self, data, commit):
        return 'second'
'''


def test_source_is_the_class_from_the_revision_it_was_loaded_from():
    register('pair', TWO_CLASSES)
    first = load('pair', 'First')
    assert first().source == (
        "class First(Script):\n    label = StringVar()\n\n    def run(self, data, commit):\n        return 'first'\n"
    )
    lines, index = first().findsource(first)
    assert lines[index] == 'class First(Script):\n' and ''.join(lines) == TWO_CLASSES
    assert first().filename == '<custom-scripts>/pair.py'

    register('pair', TWO_CLASSES.replace("return 'first'", "return 'first, revised'"))
    revised = load('pair', 'First')
    assert revised is not first
    assert "return 'first, revised'" in revised().source
    assert "return 'first'\n" in first().source  # the class still running from the old revision
    assert load('pair', 'Second')().source.startswith('class Second(Script):')


def test_source_of_a_class_in_an_ordinary_file():
    assert SiteChecks().source == inspect.getsource(SiteChecks)
    assert SiteChecks().filename == __file__


def test_module_and_root_module():
    register('tools.sites', TWO_CLASSES)
    first = load('tools.sites', 'First')
    assert (first.module, first.root_module(), first.full_name) == ('tools.sites', 'tools', 'tools.sites.First')


def test_get_module_and_script_finds_the_plugins_records():
    register('pair', TWO_CLASSES)
    assert 'get_module_and_script' in scripts.__all__
    module, script = scripts.get_module_and_script('pair', 'Second')
    assert (module, script) == (ScriptModule.objects.get(name='pair'), ScriptRecord.objects.get(class_name='Second'))
    with pytest.raises(ScriptRecord.DoesNotExist):
        scripts.get_module_and_script('pair', 'Third')
    with pytest.raises(ScriptModule.DoesNotExist):
        scripts.get_module_and_script('missing', 'First')


class Provision(scripts.Script):
    class Meta:
        commit_default = False
        scheduling_enabled = False

    site = scripts.ObjectVar(model=Site, query_params={'status': 'active'})
    password = scripts.SecretVar()
    config = scripts.FileVar(required=False)
    count = scripts.IntegerVar(min_value=1, default=2)


def test_as_form_is_the_run_form_a_unit_test_can_drive():
    active = Site.objects.create(name='a', slug='a', status='active')
    planned = Site.objects.create(name='p', slug='p', status='planned')
    form = Provision().as_form()
    assert not form.is_bound
    assert list(form.fields) == ['site', 'password', 'config', 'count', '_commit', '_notifications']
    assert form.fields['_commit'].initial is False and form.fields['count'].initial == 2

    upload = SimpleUploadedFile('hosts.txt', b'h1\n')
    form = Provision().as_form({'site': active.pk, 'password': 's3cret', 'count': 3}, {'config': upload})
    assert form.is_valid(), form.errors
    assert form.cleaned_data['site'] == active and form.cleaned_data['config'] is upload
    assert form.cleaned_data['_commit'] is False and form.cleaned_data['_notifications'] == 'always'

    # query_params hold here too; a secret value is never repeated in an error.
    form = Provision().as_form({'site': planned.pk, 'password': 's3cret', 'count': 0})
    assert not form.is_valid()
    assert set(form.errors) == {'site', 'count'} and 's3cret' not in str(form.errors)

    form = Provision().as_form(initial={'count': 5})
    assert form['count'].value() == 5
    # The layout of the same fields, as a page (or a test) groups them.
    assert [tuple(names) for __, names in Provision().get_fieldsets()] == [
        ('site', 'password', 'config', 'count'), ('_commit', '_notifications'),
    ]

