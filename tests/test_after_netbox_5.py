"""
After NetBox 5.0: modules written for built-in scripts keep loading and running when NetBox no longer ships
`extras.scripts`, `extras.reports` and `utilities.exceptions.AbortScript`.

Each test runs a fresh Python process in which a meta path finder, installed before Django is set up, makes NetBox
look like 5.0 as far as scripts go: importing `extras.scripts` or `extras.reports` raises ImportError (for NetBox
itself too), `utilities.exceptions` has no AbortScript, and NetBox 4.7's own `extras.jobs` - which imports both
for its ScriptJob - is given its source with those two imports replaced, as 5.0 will not have them. The plugin
starts in that process, registers legacy modules of every import style and runs their scripts.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from .utils import make_user

pytestmark = pytest.mark.django_db(transaction=True)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NETBOX_5 = """
import importlib.abc
import importlib.machinery
import importlib.util
import sys

GONE = ('extras.scripts', 'extras.reports')
# NetBox 4.7's extras.jobs imports what 5.0 removes; these are the only lines that change.
JOBS_PATCHES = (
    ('from extras.scripts import _UNSET\\n', '_UNSET = object()\\n'),
    ('from utilities.exceptions import AbortScript, AbortTransaction\\n',
     'from utilities.exceptions import AbortTransaction\\nAbortScript = None\\n'),
)


class PatchedSource(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname, path, patches=(), remove=()):
        super().__init__(fullname, path)
        self.patches = patches
        self.remove = remove

    def source_to_code(self, data, path, *, _optimize=-1):
        text = data.decode()
        for old, new in self.patches:
            if text.count(old) != 1:
                raise RuntimeError(f'{self.name}: the line {old!r} to replace is not there')
            text = text.replace(old, new)
        return compile(text, path, 'exec', dont_inherit=True)

    def exec_module(self, module):
        super().exec_module(module)
        for name in self.remove:
            delattr(module, name)
        if self.remove and hasattr(module, '__all__'):
            module.__all__ = tuple(name for name in module.__all__ if name not in self.remove)

    def get_code(self, fullname):  # never a cached .pyc of the unpatched file
        return self.source_to_code(self.get_data(self.path), self.path)


class NetBox5(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in GONE:
            raise ModuleNotFoundError(f'No module named {name!r} (removed in NetBox 5.0)', name=name)
        if name in ('extras.jobs', 'utilities.exceptions'):
            real = importlib.machinery.PathFinder.find_spec(name, path)
            loader = PatchedSource(
                name, real.origin,
                patches=JOBS_PATCHES if name == 'extras.jobs' else (),
                remove=('AbortScript',) if name == 'utilities.exceptions' else (),
            )
            return importlib.util.spec_from_file_location(name, real.origin, loader=loader)
        return None


sys.meta_path.insert(0, NetBox5())
"""

DRIVER = """
import json, sys
import django
django.setup()
import utilities.exceptions
from netbox_custom_scripts.execution import run_script
from netbox_custom_scripts.execution import save_source

assert not hasattr(utilities.exceptions, 'AbortScript')
modules, runs = {}, {}
for name, (source, data) in json.loads(sys.argv[1]).items():
    module = save_source(name, source, source='upload', file_path=name + '.py')
    modules[name] = [module.status, module.error, sorted(module.scripts.filter(is_active=True)
                                                         .values_list('class_name', flat=True))]
    for class_name, inputs in data.items():
        run = run_script(f'{name}.{class_name}', data=inputs, user='admin', commit=True)
        runs[f'{name}.{class_name}'] = {
            'status': run.status, 'output': run.output, 'error': run.error,
            'log': [[line.level, line.message, line.test] for line in run.log_entries],
        }
print(json.dumps({
    'modules': modules, 'runs': runs,
    'netbox_script_modules_loaded': sorted(m for m in ('extras.scripts', 'extras.reports') if m in sys.modules),
}))
"""

STAR = """\
from dcim.models import Site
from extras.scripts import *
from utilities.exceptions import AbortScript


class CreateSite(Script):
    class Meta:
        name = 'Create a site'

    site_name = StringVar()

    def run(self, data, commit):
        if Site.objects.filter(name=data['site_name']).exists():
            raise AbortScript(f"{data['site_name']} exists already")
        site = Site.objects.create(name=data['site_name'], slug=data['site_name'])
        self.log_success('Created', site)
        return format([message['message'] for message in self.messages])
"""

NAMES = """\
from dcim.models import Site
from extras.scripts import ObjectVar, Script, get_module_and_script


class DescribeSite(Script):
    site = ObjectVar(model=Site)

    def run(self, data, commit):
        module, script = get_module_and_script('names', 'DescribeSite')
        return f"{data['site'].name} via {module.name}.{script.class_name}"
"""

DOTTED = """\
import extras.scripts
import extras.models  # rebinds `extras`: extras.scripts must still be the plugin's
import utilities.exceptions


class TagSite(extras.scripts.Script):
    tag = extras.scripts.StringVar()

    def run(self, data, commit):
        if data['tag'] == 'stop':
            raise utilities.exceptions.AbortScript('told to stop')
        tag = extras.models.Tag.objects.create(name=data['tag'], slug=data['tag'])
        return tag.slug
"""

FROM_PACKAGE = """\
from extras import scripts


class Hello(scripts.Script):
    def run(self, data, commit):
        self.log_info('hello')
        return 'hello'
"""

# A report as NetBox 4.x runs it: test_* methods (in name order), pre_run/post_run, no run().
REPORT = """\
from dcim.models import Site
from extras.scripts import Script


class SiteAudit(Script):
    def pre_run(self):
        self.log_info('starting')

    def test_slug(self):
        for site in Site.objects.order_by('name'):
            self.log_success('slug ok', site)

    def test_description(self):
        for site in Site.objects.order_by('name'):
            if not site.description:
                self.log_failure('no description', site)

    def post_run(self):
        self.log_info('finished')
"""

# NetBox's legacy report class: log calls take the object first.
LEGACY_REPORT = """\
from dcim.models import Site
from extras.reports import Report


class DescriptionReport(Report):
    def test_description(self):
        for site in Site.objects.order_by('name'):
            if site.description:
                self.log_success(site, 'described')
            else:
                self.log_failure(site, 'no description')
        self.log('checked')
"""

MODULES = {
    'star': (STAR, {'CreateSite': {'site_name': 'ams'}}),
    'star_again': (STAR.replace('CreateSite', 'CreateSiteAgain'), {'CreateSiteAgain': {'site_name': 'ams'}}),
    'names': (NAMES, {'DescribeSite': {'site': None}}),
    'dotted': (DOTTED, {'TagSite': {'tag': 'core'}}),
    'dotted_stop': (DOTTED.replace('TagSite', 'TagSiteStop'), {'TagSiteStop': {'tag': 'stop'}}),
    'from_package': (FROM_PACKAGE, {'Hello': {}}),
    'report': (REPORT, {'SiteAudit': {}}),
    'legacy_report': (LEGACY_REPORT, {'DescriptionReport': {}}),  # after star: sites ams (bare) and hq
}


def run_as_netbox_5(modules):
    env = dict(os.environ, NB_DB_NAME=settings.DATABASES['default']['NAME'], DJANGO_SETTINGS_MODULE='tests.settings')
    program = NETBOX_5 + textwrap.dedent(DRIVER)
    result = subprocess.run([sys.executable, '-c', program, json.dumps(modules)], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_legacy_modules_load_and_run_without_netboxs_script_modules():
    from dcim.models import Site

    make_user('admin', is_superuser=True)
    hq = Site.objects.create(name='hq', slug='hq', description='Head office')
    modules = dict(MODULES)
    modules['names'] = (NAMES, {'DescribeSite': {'site': hq.pk}})

    result = run_as_netbox_5(modules)

    assert result['netbox_script_modules_loaded'] == []
    for name, (status, error, scripts) in result['modules'].items():
        assert (status, error) == ('ok', ''), name
        assert scripts == sorted(MODULES[name][1]), name
    runs = result['runs']
    assert (runs['star.CreateSite']['status'], runs['star.CreateSite']['output']) == ('completed', "['Created']")
    aborted = runs['star_again.CreateSiteAgain']  # AbortScript from utilities.exceptions, which has none now
    assert (aborted['status'], aborted['error']) == ('aborted', 'ams exists already')
    assert runs['names.DescribeSite']['output'] == 'hq via names.DescribeSite'
    assert (runs['dotted.TagSite']['status'], runs['dotted.TagSite']['output']) == ('completed', 'core')
    assert (runs['dotted_stop.TagSiteStop']['status'], runs['dotted_stop.TagSiteStop']['error']) == (
        'aborted', 'told to stop'
    )
    assert runs['from_package.Hello']['output'] == 'hello'

    report = runs['report.SiteAudit']
    assert report['status'] == 'failed'  # a test logged a failure: completed with failures
    assert report['log'][:5] == [
        ['info', 'starting', ''],
        ['failure', 'no description', 'test_description'],  # test methods in name order, as NetBox runs them
        ['success', 'slug ok', 'test_slug'],
        ['success', 'slug ok', 'test_slug'],
        ['info', 'finished', ''],
    ]
    legacy = runs['legacy_report.DescriptionReport']
    assert legacy['status'] == 'failed'
    assert legacy['log'][:3] == [
        ['failure', 'no description', 'test_description'],
        ['success', 'described', 'test_description'],
        ['info', 'checked', 'test_description'],
    ]
    assert Site.objects.filter(name='ams').exists()
