"""
NetBox's own standard test cases for each of the plugin's models, so that the plugin behaves as NetBox's own objects
do: detail, list, changelog and export pages, delete and bulk delete with their permission checks, the REST API's
detail, list and brief views, and GraphQL. Only the data is written here; tests/base.py aims the cases at the
plugin's URLs. A standard case that does not apply to a model is left out, with the reason next to it.
"""
from utilities.testing import APIViewTestCases, ViewTestCases

from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.graphql import types
from netbox_custom_scripts.models import Schedule, Script, ScriptModule, ScriptRun

from . import base  # as a module: its TestCase classes are not tests of this module
from .security.helpers import make_run
from .utils import make_user


def create_data():
    """The directory modules (tests/fixtures/scripts), three runs and three schedules."""
    sync_directory()
    owner = make_user('owner', is_superuser=True)
    hello = Script.objects.get(module__name='basic', class_name='Hello')
    count = Script.objects.get(module__name='basic', class_name='Count')
    for index, script in enumerate((hello, count, hello)):
        make_run(script, owner, inputs={'who': f'run {index}'}, marker=f'run-{index}')
    for index, script in enumerate((hello, count, hello)):
        Schedule.objects.create(name=f'schedule {index}', script=script, user=owner, inputs={}, cron=f'0 {index} * * *')


class ScriptModuleViewTestCase(
    base.PluginViewTestCase,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    base.ListObjectsViewTestCase,
    ViewTestCases.DeleteObjectViewTestCase,
    ViewTestCases.BulkDeleteObjectsViewTestCase,
):
    # No CreateObjectViewTestCase / EditObjectViewTestCase: a module is added by uploading code or picking a data
    # file, and the form's effect (a revision, Script records) is not a field-for-field copy (test_module_sources.py).
    # No bulk edit or bulk import: the plugin has neither view for modules.
    model = ScriptModule

    @classmethod
    def setUpTestData(cls):
        create_data()


class ScriptViewTestCase(
    base.PluginViewTestCase,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    base.ListObjectsViewTestCase,
):
    # Read-only: scripts are the classes of a module's current revision; they come and go with the module's code,
    # so there is no add, edit, delete, bulk edit or bulk import view to test.
    model = Script


    @classmethod
    def setUpTestData(cls):
        create_data()


class ScriptRunViewTestCase(
    base.PluginViewTestCase,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    base.ListObjectsViewTestCase,
    ViewTestCases.DeleteObjectViewTestCase,
    ViewTestCases.BulkDeleteObjectsViewTestCase,
):
    # No add or edit: a run is made by running a script (the script's form), and its record is never edited.
    model = ScriptRun

    @classmethod
    def setUpTestData(cls):
        create_data()


class ScheduleViewTestCase(
    base.PluginViewTestCase,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    base.ListObjectsViewTestCase,
    ViewTestCases.DeleteObjectViewTestCase,
    ViewTestCases.BulkDeleteObjectsViewTestCase,
):
    # No CreateObjectViewTestCase / EditObjectViewTestCase: saving a schedule validates its inputs against the
    # script and computes next_run_at, so the stored row is not the posted form (test_schedule_pages.py covers it).
    model = Schedule

    @classmethod
    def setUpTestData(cls):
        create_data()


class ScriptModuleAPITestCase(
    base.PluginAPITestCase,
    APIViewTestCases.GetObjectViewTestCase,
    base.APIListObjectsViewTestCase,
    APIViewTestCases.GraphQLTestCase,
):
    # No Create/Update/Delete API cases: modules are created by upload (multipart source code), see
    # test_module_sources.py.
    model = ScriptModule
    brief_fields = ['display', 'display_name', 'id', 'name', 'status', 'url']
    graphql_base_name = 'custom_script_module'
    type_class = types.CustomScriptModuleType
    graphql_auto_filter_required = False  # the plugin's GraphQL types declare no filter classes


    @classmethod
    def setUpTestData(cls):
        create_data()


class ScriptAPITestCase(
    base.PluginAPITestCase,
    APIViewTestCases.GetObjectViewTestCase,
    base.APIListObjectsViewTestCase,
    APIViewTestCases.GraphQLTestCase,
):
    # Read-only endpoint (see ScriptViewTestCase).
    model = Script
    brief_fields = ['description', 'display', 'full_name', 'id', 'name', 'url']
    graphql_base_name = 'custom_script'
    type_class = types.CustomScriptType
    graphql_auto_filter_required = False  # the plugin's GraphQL types declare no filter classes

    def _get_queryset(self):
        # What the list shows (documented): active scripts, Meta.hidden ones only to users who may change scripts.
        return Script.objects.listed_for(self.user)

    @classmethod
    def setUpTestData(cls):
        create_data()


class ScriptRunAPITestCase(
    base.PluginAPITestCase,
    APIViewTestCases.GetObjectViewTestCase,
    base.APIListObjectsViewTestCase,
    APIViewTestCases.GraphQLTestCase,
):
    # No Create/Update API cases: runs are created by POST .../scripts/<id>/run/ (test_api_runs.py), never edited.
    model = ScriptRun
    brief_fields = ['commit', 'created', 'display', 'id', 'script_name', 'status', 'url']
    graphql_base_name = 'custom_script_run'
    type_class = types.CustomScriptRunType
    graphql_auto_filter_required = False  # the plugin's GraphQL types declare no filter classes

    # Different by design: NetBox's case asks every field of every run, and a run's output (up to max_output_size)
    # is returned for one run at a time only (graphql/types.py; test_graphql.py holds that bound).
    test_graphql_list_objects = base.expected_failure(APIViewTestCases.GraphQLTestCase.test_graphql_list_objects)

    @classmethod
    def setUpTestData(cls):
        create_data()


class ScheduleAPITestCase(
    base.PluginAPITestCase,
    APIViewTestCases.GetObjectViewTestCase,
    base.APIListObjectsViewTestCase,
):
    # No GraphQLTestCase: schedules have no GraphQL type. No Create/Update cases: see ScheduleViewTestCase.
    model = Schedule
    brief_fields = ['display', 'enabled', 'id', 'name', 'next_run_at', 'url']

    @classmethod
    def setUpTestData(cls):
        create_data()
