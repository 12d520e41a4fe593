"""
GraphQL as an attacker writes it: queries that nest the module <-> script cycle, widen it with aliases or hide it
in fragments must be refused before any of the plugin's rows are loaded, whatever NetBox's own limits are; and a
user who may view only part of the objects gets what they may see, never an error.

Costs are measured in SQL queries on the plugin's tables and in model instances created, not in wall-clock time;
a generous alarm stops a regressed query instead of letting it eat the machine's memory.
"""
import contextlib
import re
import signal

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from rest_framework.test import APIClient
from strawberry.extensions import MaxAliasesLimiter

from netbox_custom_scripts.graphql.bounds import QueryBounds
from netbox_custom_scripts.graphql.schema import CustomScriptsQuery
from netbox_custom_scripts.models import Script, ScriptModule, ScriptRun

from ..utils import make_user, token_header

pytestmark = pytest.mark.django_db

MODULES = 50
SCRIPTS_PER_MODULE = 4
RUNS = 20
# The limits the plugin documents for its GraphQL query fields.
MAX_DEPTH = 3
MAX_OBJECT_FIELDS = 50
# Seconds before a query that should have been refused is interrupted (the test then fails).
ALARM = 20

PLUGIN_TABLE = re.compile(r'"netbox_custom_scripts_(script|scriptmodule|scriptrun)"')


@pytest.fixture(scope='module', autouse=True)
def loaded_urls():
    # The first request imports every NetBox view (seconds on a slow machine): not part of what the alarm times.
    resolve('/graphql/')


@pytest.fixture
def many_modules():
    """MODULES modules of SCRIPTS_PER_MODULE scripts each, and RUNS runs of the first script."""
    modules = ScriptModule.objects.bulk_create([
        ScriptModule(name=f'bulk{i:02}', source='upload', file_path=f'custom_scripts/bulk{i:02}.py')
        for i in range(MODULES)
    ])
    scripts = Script.objects.bulk_create([
        Script(module=module, class_name=f'Job{j}', name=f'Job {j}', weight=j)
        for module in modules for j in range(SCRIPTS_PER_MODULE)
    ])
    ScriptRun.objects.bulk_create([
        ScriptRun(script=scripts[0], script_name=f'{modules[0].name}.{scripts[0].class_name}', source='api')
        for _ in range(RUNS)
    ])
    return modules, scripts


@pytest.fixture
def admin_client():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(make_user('gql-admin', is_superuser=True)))
    return client


@contextlib.contextmanager
def alarm(seconds=ALARM):
    def expire(signum, frame):
        raise TimeoutError(f'GraphQL query still running after {seconds} s')

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Cost:
    """SQL queries on the plugin's tables and plugin model instances created while a request is handled."""

    def __init__(self):
        self.instances = 0
        self.queries = 0

    def count_instance(self, sender, **kwargs):
        if sender in (Script, ScriptModule, ScriptRun):
            self.instances += 1


def post(client, query):
    """The response body of `query`, and what answering it cost."""
    cost = Cost()
    post_init.connect(cost.count_instance, weak=False)
    try:
        with alarm(), CaptureQueriesContext(connection) as captured:
            response = client.post('/graphql/', {'query': query}, format='json')
    finally:
        post_init.disconnect(cost.count_instance)
    assert response.status_code == 200, response.content
    cost.queries = sum(1 for q in captured.captured_queries if PLUGIN_TABLE.search(q['sql']))
    return response.json(), cost


def nested(levels, leaf='id'):
    """custom_script_module_list { scripts { module { scripts { ... { leaf } } } } }, `levels` fields deep."""
    names = ['custom_script_module_list'] + ['scripts' if i % 2 else 'module' for i in range(1, levels)]
    return ' { '.join(names) + f' {{ {leaf} ' + '} ' * (levels - 1) + '}'


def assert_refused(body, cost, words):
    messages = [error['message'] for error in body.get('errors') or []]
    assert messages and all(words in message for message in messages), body
    assert not body.get('data'), body
    assert cost.queries == 0 and cost.instances == 0, vars(cost)


#
# Depth
#

def test_every_query_field_is_bounded():
    # A query field without the check would be a way around it.
    for field in CustomScriptsQuery.__strawberry_definition__.fields:
        assert any(isinstance(extension, QueryBounds) for extension in field.extensions), field.name


def test_the_twelve_level_cycle_is_refused_before_anything_is_loaded(many_modules, admin_client):
    body, cost = post(admin_client, '{ ' + nested(12) + ' }')
    # The first rule it breaks: the second level goes back to the module.
    assert_refused(body, cost, 'loops back')


def test_going_back_to_the_module_is_refused(many_modules, admin_client):
    # Three levels, within the depth limit, but each level multiplies the rows by the scripts of a module.
    body, cost = post(admin_client, '{ ' + nested(4) + ' }')
    assert_refused(body, cost, 'loops back')


def test_depth_hidden_in_fragments_is_refused(many_modules, admin_client):
    query = """
    query { custom_script_list { ...Script } }
    fragment Script on CustomScriptType { module { ...Module } }
    fragment Module on CustomScriptModuleType { scripts { ...Inner } }
    fragment Inner on CustomScriptType { id module { name } }
    """
    body, cost = post(admin_client, query)
    assert_refused(body, cost, 'loops back')


def test_depth_below_netbox_types_counts(many_modules, admin_client):
    query = '{ custom_script_run_list { script { module { tags { object_types { id } } } } } }'
    body, cost = post(admin_client, query)
    assert_refused(body, cost, 'too deep')
    assert f'at most {MAX_DEPTH} below' in body['errors'][0]['message']


def test_useful_shapes_answer_in_a_few_queries(many_modules, admin_client):
    shapes = {
        '{ custom_script_module_list { name content_hash scripts { class_name } } }': 'custom_script_module_list',
        '{ custom_script_list { full_name module { name } } }': 'custom_script_list',
        '{ custom_script_run_list { script { full_name module { name } } } }': 'custom_script_run_list',
        '{ custom_script_run_list { script { module { tags { name } } } } }': 'custom_script_run_list',
    }
    for query, field in shapes.items():
        body, cost = post(admin_client, query)
        assert 'errors' not in body, (query, body)
        assert body['data'][field], query
        # One query per level, whatever the number of rows: nothing is loaded row by row.
        assert cost.queries <= 4, (query, vars(cost))
    body, _ = post(admin_client, '{ custom_script_list { full_name module { name } } }')
    assert len(body['data']['custom_script_list']) == MODULES * SCRIPTS_PER_MODULE
    assert body['data']['custom_script_list'][0] == {'full_name': 'bulk00.Job0', 'module': {'name': 'bulk00'}}


#
# Width: aliases
#

def test_aliased_copies_within_netbox_alias_limit_are_refused(many_modules, admin_client):
    # NetBox's default GRAPHQL_MAX_ALIASES is 10: ten copies of the cycle, each multiplying the scripts.
    copies = ' '.join(f'a{i}: {nested(4)}' for i in range(10))
    body, cost = post(admin_client, '{ ' + copies + ' }')
    assert_refused(body, cost, 'loops back')


def test_aliased_copies_of_an_allowed_shape_cost_what_they_return(many_modules, admin_client):
    copies = ' '.join(f'a{i}: custom_script_run_list {{ script {{ full_name module {{ name }} }} }}' for i in range(10))
    body, cost = post(admin_client, '{ ' + copies + ' }')
    assert 'errors' not in body, body
    assert body['data']['a9'][0] == {'script': {'full_name': 'bulk00.Job0', 'module': {'name': 'bulk00'}}}
    # Each copy loads its runs, their one script and its module: linear in the rows, not multiplied by them.
    assert cost.instances <= 10 * (RUNS + 2), vars(cost)
    assert cost.queries <= 10 * 3, vars(cost)


@pytest.fixture
def no_netbox_alias_limit(monkeypatch):
    """As if GRAPHQL_MAX_ALIASES were set very high: the plugin must not rely on it."""
    monkeypatch.setattr('netbox.graphql.schema.MaxAliasesLimiter',
                        lambda max_alias_count: MaxAliasesLimiter(max_alias_count=100_000))


def test_many_aliased_copies_are_refused_whatever_netbox_allows(many_modules, admin_client, no_netbox_alias_limit):
    copies = ' '.join(f'a{i}: custom_script_list {{ module {{ name }} }}' for i in range(500))
    body, cost = post(admin_client, '{ ' + copies + ' }')
    assert_refused(body, cost, 'too wide')
    assert f'more than {MAX_OBJECT_FIELDS}' in body['errors'][0]['message']


def test_nested_aliases_are_refused(many_modules, admin_client, no_netbox_alias_limit):
    copies = ' '.join(f'm{i}: module {{ name }}' for i in range(500))
    body, cost = post(admin_client, '{ custom_script_list { ' + copies + ' } }')
    assert_refused(body, cost, 'too wide')


#
# Partial permissions: what the user may see, never an error
#

def gql(user, query):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    body, _ = post(client, query)
    assert 'errors' not in body, body['errors']
    return body['data']


def test_scripts_without_their_modules(many_modules):
    modules, scripts = many_modules
    user = make_user('scripts-only', (Script, ['view']))
    data = gql(user, '{ custom_script_list { full_name module { name } } }')
    assert len(data['custom_script_list']) == len(scripts)
    assert data['custom_script_list'][0] == {'full_name': 'bulk00.Job0', 'module': None}

    data = gql(user, f'{{ custom_script(id: {scripts[5].pk}) {{ full_name module {{ name }} }} }}')
    assert data['custom_script'] == {'full_name': 'bulk01.Job1', 'module': None}
    assert gql(user, '{ custom_script_module_list { name } }')['custom_script_module_list'] == []


def test_scripts_with_some_of_their_modules(many_modules):
    modules, scripts = many_modules
    user = make_user('some-modules', (Script, ['view']), (ScriptModule, ['view'], {'name': 'bulk01'}))
    rows = gql(user, '{ custom_script_list { full_name module { name } } }')['custom_script_list']
    visible = {row['full_name']: row['module'] for row in rows}
    assert visible['bulk01.Job0'] == {'name': 'bulk01'} and visible['bulk02.Job0'] is None


def test_runs_without_their_script_or_module(many_modules):
    runs_only = make_user('runs-only', (ScriptRun, ['view']))
    rows = gql(runs_only, '{ custom_script_run_list { script_name script { full_name module { name } } } }')
    assert len(rows['custom_script_run_list']) == RUNS
    assert rows['custom_script_run_list'][0] == {'script_name': 'bulk00.Job0', 'script': None}

    runs_and_scripts = make_user('runs-scripts', (ScriptRun, ['view']), (Script, ['view']))
    rows = gql(runs_and_scripts, '{ custom_script_run_list { script { full_name module { name } } } }')
    assert rows['custom_script_run_list'][0] == {'script': {'full_name': 'bulk00.Job0', 'module': None}}
