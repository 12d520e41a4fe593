"""
The REST API is described by NetBox's OpenAPI schema (drf-spectacular) without warnings, and a seeded,
bounded property-based run of schemathesis over every operation of the plugin's API, against a live server with
an admin token, never gets a server error.
"""
import pytest

from netbox_custom_scripts.execution import sync_directory

from .utils import make_user, token_header

PREFIX = 'api/plugins/custom-scripts/'


_schema_cache = {}


def plugin_schema():
    """
    NetBox's OpenAPI schema, generated as /api/schema/ does, cut down to the plugin's paths; and the generator's
    warnings and errors about the plugin's code.
    """
    if 'schema' not in _schema_cache:
        from drf_spectacular.drainage import GENERATOR_STATS
        from drf_spectacular.generators import SchemaGenerator

        GENERATOR_STATS.reset()
        schema = SchemaGenerator().get_schema(request=None, public=True)
        problems = [
            message for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
            if 'netbox_custom_scripts' in message or 'custom-scripts' in message
        ]
        GENERATOR_STATS.reset()
        schema['paths'] = {key: value for key, value in schema['paths'].items() if key.startswith(f'/{PREFIX}')}
        _schema_cache['schema'] = (schema, problems)
    return _schema_cache['schema']


def test_schema_has_no_warnings():
    schema, problems = plugin_schema()
    assert problems == []
    paths = schema['paths']
    assert f'/{PREFIX}scripts/{{id}}/run/' in paths
    assert f'/{PREFIX}runs/{{id}}/log/' in paths
    run = paths[f'/{PREFIX}scripts/{{id}}/run/']['post']
    assert run['responses']['201']['content']['application/json']['schema']['$ref'].endswith('/ScriptRun')
    # Named apart from NetBox's own Script and ScriptModule components.
    assert {'CustomScript', 'CustomScriptModule'} <= set(schema['components']['schemas'])


@pytest.mark.django_db(transaction=True)
def test_property_based_requests_never_get_a_server_error(live_server):
    """Every operation, with inputs generated from the schema: seeded, 10 examples each, never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    sync_directory()
    headers = {'Authorization': token_header(make_user('fuzzer', is_superuser=True))}
    schema = schemathesis.openapi.from_dict(plugin_schema()[0])
    failures, calls = [], 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=10, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            nonlocal calls
            response = case.call(base_url=live_server.url, headers=headers, timeout=60)
            calls += 1
            if response.status_code >= 500:
                failures.append(f'{case.method} {case.formatted_path} -> {response.status_code}: '
                                f'{response.text[:300]}')

        exercise()
    assert calls > 100
    assert failures == [], '\n'.join(failures)
