"""
Modules stock NetBox 4.7 loads, with the Meta a community author really writes, load here too (issue 12):

- a Meta.field_order still naming a variable that was renamed, an unknown option (Meta.group), commit_default as
  the string 'False', a fieldsets entry that is not a variable: the module loads, the script runs as on NetBox, and
  what the plugin used to refuse is a warning on the script (page, REST API, `sync` output);
- commit_default = 'False' does what it does on NetBox: the Commit box starts checked (NetBox puts the value in the
  checkbox as it is), so a run that does not choose commits; the warning says so;
- a job_timeout or notifications_default NetBox cannot use loads, and the run is refused when it is started, with
  the reason (as NetBox's validate_meta refuses to queue it), nothing written;
- the plugin's own options stay strict; the strict_meta setting makes NetBox-tolerated problems load errors again;
- a module the plugin cannot use says why (an old Report class, a class with a variable that replaces run(), a
  class derived from NetBox's own Script imported around the redirect, helper bases only), never zero scripts
  silently.
"""
import textwrap

import pytest
from dcim.models import Site
from django.urls import reverse
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import RunRefused, submit_run, sync_directory
from netbox_custom_scripts.models import Script, ScriptModule, ScriptRun

from .utils import cli, token_header

pytestmark = pytest.mark.django_db

API = '/api/plugins/custom-scripts'

# As found in community repositories: `region` was renamed `site_region`, but field_order was not updated;
# `group` is a Meta option some authors add for their own tooling; commit_default is a string.
RENAMED_VARIABLE = """
from dcim.models import Region, Site
from extras.scripts import ObjectVar, Script, StringVar


class NewBranch(Script):
    class Meta:
        name = 'New branch'
        description = 'Create a branch site'
        group = 'Provisioning'
        field_order = ['site_name', 'region', 'site_region']
        fieldsets = (('Site', ('site_name', 'site_region', 'old_slug')),)
        commit_default = 'False'

    site_name = StringVar(description='Name of the new site')
    site_region = ObjectVar(model=Region, required=False)

    def run(self, data, commit):
        site = Site.objects.create(name=data['site_name'], slug=data['site_name'].lower(), region=data['site_region'])
        self.log_success('Created site', site)
        return f'created {site.name}'
"""

BAD_RUN_OPTIONS = """
from extras.scripts import Script


class SlowOne(Script):
    class Meta:
        job_timeout = 'one hour'

    def run(self, data, commit):
        return 'ran'


class Chatty(Script):
    class Meta:
        notifications_default = 'on_error'

    def run(self, data, commit):
        return 'ran'
"""

LEGACY_REPORT = """
from dcim.models import Site
from extras.reports import Report


class SiteReport(Report):
    description = 'Every site has a region'

    def test_regions(self):
        for site in Site.objects.all():
            if site.region is None:
                self.log_failure(site, 'no region')
"""

UNUSABLE_CLASS = """
from extras.scripts import Script, StringVar


class Broken(Script):
    run = StringVar()  # replaces run(): NetBox cannot run it either
"""

AROUND_THE_REDIRECT = """
import importlib

scripts = importlib.import_module('extras.scripts')  # NetBox's own module: import statements are redirected


class Sneaky(scripts.Script):
    def run(self, data, commit):
        return 'stock'
"""

HELPERS_ONLY = """
from extras.scripts import BaseScript


class SharedBase(BaseScript):
    def greet(self):
        self.log_info('hello')
"""


def write(root, name, text):
    (root / f'{name}.py').write_text(textwrap.dedent(text))


def sync(root, **modules):
    for name, text in modules.items():
        write(root, name, text)
    return sync_directory(root=str(root), force=True)


@pytest.fixture
def scripts_dir(tmp_path, settings):
    config = {**settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'scripts_dir': str(tmp_path)}
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': config}
    return tmp_path


def api_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def test_a_module_netbox_loads_loads_with_warnings(scripts_dir):
    result = sync(scripts_dir, branches=RENAMED_VARIABLE)
    assert result.errors == {}
    module = ScriptModule.objects.get(name='branches')
    assert module.status == ModuleStatusChoices.OK
    script = Script.objects.get(module=module, class_name='NewBranch')
    assert (script.name, script.description) == ('New branch', 'Create a branch site')
    assert script.warnings == [
        'unknown Meta option(s) ignored, as NetBox ignores them: group (known: name, description, field_order, '
        'fieldsets, commit_default, scheduling_enabled, job_timeout, notifications_default, hidden, singleton, '
        'queue, sensitive_variables, object_types, approval_required, commit_requires_permission, run_mode, '
        'allowed_queues, max_runtime, rate_limit)',
        "Meta.commit_default should be True or False (found 'False'); like NetBox, the plugin takes it as True",
        "Meta.field_order names 'region', which is not a variable: ignored",
        "Meta.fieldsets names 'old_slug', which is not a variable: left out",
    ]
    # The names that are variables still count, in their order.
    assert script.meta['field_order'] == ['site_name', 'site_region']
    assert script.meta['fieldsets'] == [['Site', ['site_name', 'site_region']]]
    assert script.meta['commit_default'] is True


@pytest.mark.django_db(transaction=True)
def test_commit_default_false_as_a_string_starts_checked_and_commits_as_on_netbox(scripts_dir, admin, client):
    sync(scripts_dir, branches=RENAMED_VARIABLE)
    script = Script.objects.get(class_name='NewBranch')
    client.force_login(admin)
    page = client.get(script.get_absolute_url()).content.decode()
    commit_box = page[page.index('name="_commit"') - 200:page.index('name="_commit"') + 200]
    assert 'checked' in commit_box
    # The warning is on the page, saying what the plugin made of it.
    assert 'id="warnings"' in page
    assert 'the plugin takes it as True' in page
    # A run that does not choose commits, as NetBox's checked box would.
    run = submit_run(script, user=admin, data={'site_name': 'AMS1'}, source=RunSourceChoices.CLI, immediate=True)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert run.commit is True
    assert Site.objects.filter(name='AMS1').exists()


def test_warnings_in_the_rest_api_read_only(scripts_dir, admin):
    sync(scripts_dir, branches=RENAMED_VARIABLE, legacy=UNUSABLE_CLASS)
    client = api_client(admin)
    script = client.get(f'{API}/scripts/', {'class_name': 'NewBranch'}).json()['results'][0]
    assert "Meta.field_order names 'region', which is not a variable: ignored" in script['warnings']
    legacy = ScriptModule.objects.get(name='legacy')
    body = client.get(f'{API}/modules/{legacy.pk}/').json()
    assert body['script_count'] == 0
    assert any('class Broken could not be used' in warning for warning in body['warnings'])
    # Read-only: a client cannot clear them.
    response = client.patch(f'{API}/modules/{legacy.pk}/', {'warnings': []}, format='json')
    assert response.status_code == 400
    legacy.refresh_from_db()
    assert legacy.warnings


def test_sync_prints_the_warnings_per_module(scripts_dir):
    for name, text in {'branches': RENAMED_VARIABLE, 'legacy': UNUSABLE_CLASS}.items():
        write(scripts_dir, name, text)
    status, out, err = cli('sync')
    assert status == 0, err
    assert "warning: branches.NewBranch: Meta.field_order names 'region', which is not a variable: ignored" in err
    assert "warning: legacy: class Broken could not be used because variable 'run' replaces Script.run" in err
    assert 'warning: legacy: no usable Script classes' in err
    # And again when nothing changed: a warning stays until it is fixed.
    status, out, err = cli('sync')
    assert 'No changes.' in out
    assert 'warning: legacy: class Broken could not be used' in err


def test_a_job_timeout_netbox_cannot_use_refuses_the_run_not_the_module(scripts_dir, admin):
    result = sync(scripts_dir, options=BAD_RUN_OPTIONS)
    assert result.errors == {}
    slow = Script.objects.get(class_name='SlowOne')
    assert slow.warnings == [
        "Meta.job_timeout 'one hour' is not a positive number of seconds or a duration such as '30m': runs are "
        'refused until it is fixed, as on NetBox'
    ]
    with pytest.raises(RunRefused, match=r"options\.SlowOne cannot run until its Meta is fixed: Invalid "
                                         r"Meta\.job_timeout 'one hour'"):
        submit_run(slow, user=admin, source=RunSourceChoices.CLI, immediate=True)
    response = api_client(admin).post(f'{API}/scripts/{slow.pk}/run/', {'data': {}, 'commit': False}, format='json')
    assert response.status_code == 409
    assert "Invalid Meta.job_timeout 'one hour'" in response.json()['detail']
    assert not ScriptRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_notifications_default_refuses_only_runs_that_do_not_choose(scripts_dir, admin):
    sync(scripts_dir, options=BAD_RUN_OPTIONS)
    chatty = Script.objects.get(class_name='Chatty')
    assert chatty.warnings[0].startswith("Meta.notifications_default 'on_error' is not one of always, on_failure")
    client = api_client(admin)
    response = client.post(f'{API}/scripts/{chatty.pk}/run/', {'data': {}, 'commit': False}, format='json')
    assert response.status_code == 409
    assert "Invalid Meta.notifications_default 'on_error'" in response.json()['detail']
    assert not ScriptRun.objects.exists()
    # As on NetBox, a run that chooses its notifications is not refused.
    run = submit_run(chatty, user=admin, source=RunSourceChoices.CLI, notifications='never', immediate=True)
    assert (run.status, run.output) == (RunStatusChoices.COMPLETED, 'ran')


def test_the_plugins_own_options_stay_strict(scripts_dir):
    sync(scripts_dir, strict=RENAMED_VARIABLE.replace("group = 'Provisioning'", "queue = 'nowhere'"))
    module = ScriptModule.objects.get(name='strict')
    assert module.status == ModuleStatusChoices.ERROR
    assert "NewBranch: Meta.queue 'nowhere' is not an RQ queue" in module.error


def test_strict_meta_makes_tolerated_problems_load_errors(scripts_dir, settings):
    config = {**settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'strict_meta': True}
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': config}
    sync(scripts_dir, branches=RENAMED_VARIABLE, unusable=UNUSABLE_CLASS)
    module = ScriptModule.objects.get(name='branches')
    assert module.status == ModuleStatusChoices.ERROR
    assert 'NewBranch: unknown Meta option(s) ignored, as NetBox ignores them: group' in module.error
    assert "Meta.field_order names 'region', which is not a variable" in module.error
    assert not module.scripts.filter(is_active=True).exists()
    assert ScriptModule.objects.get(name='unusable').status == ModuleStatusChoices.ERROR


def test_strict_meta_is_a_validated_setting():
    from django.core.exceptions import ImproperlyConfigured

    from netbox_custom_scripts import CustomScriptsConfig, validate_settings

    with pytest.raises(ImproperlyConfigured, match=r"\['strict_meta'\] must be True or False \(found 'yes'\)"):
        validate_settings({**CustomScriptsConfig.default_settings, 'strict_meta': 'yes'})
    assert CustomScriptsConfig.default_settings['strict_meta'] is False


@pytest.mark.django_db(transaction=True)
def test_a_legacy_report_module_runs_as_on_netbox(scripts_dir, admin):
    """NetBox 4.7 still runs extras.reports.Report classes: test_* methods, log calls with the object first."""
    sync(scripts_dir, legacy=LEGACY_REPORT)
    Site.objects.create(name='No region', slug='no-region')
    module = ScriptModule.objects.get(name='legacy')
    assert (module.status, module.warnings) == (ModuleStatusChoices.OK, [])
    report = module.scripts.get(class_name='SiteReport')
    run = submit_run(report, user=admin, source=RunSourceChoices.CLI, immediate=True)
    assert run.status == RunStatusChoices.FAILED, run.error
    (failure,) = [line for line in run.log_entries if line.level == 'failure']
    assert (failure.message, failure.object_repr, failure.test) == ('no region', 'No region', 'test_regions')


def test_a_module_whose_scripts_are_all_left_out_says_why(scripts_dir, admin, client):
    result = sync(scripts_dir, unusable=UNUSABLE_CLASS, helpers=HELPERS_ONLY, sneaky=AROUND_THE_REDIRECT)
    assert result.errors == {}
    unusable = ScriptModule.objects.get(name='unusable')
    assert unusable.status == ModuleStatusChoices.OK
    assert not unusable.scripts.exists()
    assert unusable.warnings == [
        "class Broken could not be used because variable 'run' replaces Script.run, which running the script needs "
        '(on NetBox too); rename it',
        'no usable Script classes: every Script class of this module is left out (see above)',
    ]
    helpers = ScriptModule.objects.get(name='helpers')
    assert helpers.warnings[0].startswith('class SharedBase derives from BaseScript only')
    sneaky = ScriptModule.objects.get(name='sneaky')
    assert sneaky.warnings[0].startswith(
        "class Sneaky derives from NetBox's own extras.scripts.Script, imported in a way the plugin does not redirect"
    )
    client.force_login(admin)
    page = client.get(reverse('plugins:netbox_custom_scripts:scriptmodule', args=[unusable.pk])).content.decode()
    assert 'variable &#x27;run&#x27; replaces Script.run' in page


def test_fixing_the_module_clears_its_warnings(scripts_dir):
    sync(scripts_dir, legacy=UNUSABLE_CLASS)
    assert ScriptModule.objects.get(name='legacy').warnings
    sync(scripts_dir, legacy='from extras.scripts import Script\n\n\nclass Broken(Script):\n    pass\n')
    module = ScriptModule.objects.get(name='legacy')
    assert module.warnings == []
    assert module.scripts.get().warnings == []


CLASS_ATTRIBUTES = """
from extras.scripts import Script, StringVar


class ClassAttrs(Script):
    name = 'Class-level name'
    description = 'Class-level description'
    commit_default = False
    scheduling_enabled = False
    field_order = ['b', 'a']

    a = StringVar(default='x')
    b = StringVar(default='y')

    def run(self, data, commit):
        return f'commit={commit} keys={list(data)}'
"""

MULTI_OBJECT_DEFAULT = """
from dcim.models import Site
from extras.scripts import MultiObjectVar, ObjectVar, Script


class Defaults(Script):
    sites = MultiObjectVar(model=Site, default=[1, 2], required=False)
    site = ObjectVar(model=Site, default=1, required=False)

    def run(self, data, commit):
        return ','.join(sorted(site.name for site in data['sites']))
"""


@pytest.mark.django_db(transaction=True)
def test_options_set_as_class_attributes_count_as_on_netbox(scripts_dir, admin):
    """NetBox reads name, description, commit_default... through class properties a class attribute replaces."""
    result = sync(scripts_dir, attrs=CLASS_ATTRIBUTES)
    assert result.errors == {}
    script = Script.objects.get(class_name='ClassAttrs')
    assert (script.name, script.description) == ('Class-level name', 'Class-level description')
    assert script.meta['commit_default'] is False and script.meta['scheduling_enabled'] is False
    assert [variable['name'] for variable in script.variables] == ['b', 'a']
    run = submit_run(script, user=admin, data={}, source=RunSourceChoices.API, immediate=True)
    assert (run.status, run.commit, run.output) == (RunStatusChoices.COMPLETED, False, "commit=False keys=['b', 'a']")


def test_a_list_of_ids_as_a_multi_object_default_loads(scripts_dir, admin):
    result = sync(scripts_dir, defaults=MULTI_OBJECT_DEFAULT)
    assert result.errors == {}
    variables = {v['name']: v for v in Script.objects.get(class_name='Defaults').variables}
    assert variables['sites']['default'] == [1, 2] and variables['site']['default'] == 1

