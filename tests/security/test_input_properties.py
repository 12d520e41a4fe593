"""
Property-based input tests (hypothesis): arbitrary values for every variable type - JSON of any shape, huge,
nested, wrong-typed, with control characters - sent through the REST API, the web form and the CLI.

For every example: never a 500 (the API answers 201 or 400, the form 302 or 200 with its errors, the CLI exit
status 0 or 10 without a traceback); a refused input writes nothing (no run record, no core Job, no change-log
entry) and an accepted one writes exactly one run; and the values given to secret variables are never repeated in
what comes back.
"""
import json
import string

import pytest
from core.models import Job, ObjectChange
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import ScriptRun

from ..utils import cli, make_user, token_header
from .helpers import API, register_fixture

pytestmark = pytest.mark.django_db

NAMES = ('string', 'text', 'integer', 'decimal', 'boolean', 'choice', 'choices', 'day', 'moment', 'site', 'sites',
         'address', 'address_with_mask', 'network')
SECRET_NAMES = (*NAMES, 'password')

# Any JSON value, shallow enough to stay fast.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=300),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Strings a careless user or an attacker types: plausible values, near misses, markup, control characters.
typed_text = st.one_of(
    st.sampled_from(['alpha', 'beta', '10.0.0.1', '10.0.0.0/24', '2001:db8::1/64', '2026-12-01', '2026-12-01 10:00',
                     '1', '0', '-1', '1e9', 'true', 'null', '', ' ', '1.25', '10.0.0.0/33', '<script>x</script>']),
    st.text(alphabet=string.printable, max_size=80),
    st.text(max_size=40),
)
# A secret value that can be recognised wherever it is repeated.
secret_values = st.builds(lambda tail: f'S3CR3T-{tail}', st.text(alphabet=string.ascii_letters + string.digits,
                                                                  min_size=4, max_size=20))

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def world():
    sync_directory()
    module = register_fixture('properties', 'every_type.py')
    admin = make_user('properties-admin', is_superuser=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(admin))
    web = Client()
    web.force_login(admin)
    return {
        'plain': module.scripts.get(class_name='EveryType'),
        'secret': module.scripts.get(class_name='EveryTypeSecret'),
        'admin': admin, 'api': api, 'web': web,
    }


def counts():
    return ScriptRun.objects.count(), Job.objects.count(), ObjectChange.objects.count()


def assert_written(before, accepted):
    runs, jobs, changes = counts()
    if accepted:
        assert runs == before[0] + 1 and jobs == before[1] + 1
    else:
        assert (runs, jobs, changes) == before, 'a refused input wrote something'


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(NAMES), json_values | typed_text, max_size=6))
def test_api_any_json_inputs(world, data):
    before = counts()
    response = world['api'].post(f'{API}/scripts/{world["plain"].pk}/run/', {'data': data, 'commit': False},
                                 format='json')
    assert response.status_code in (201, 400), (data, response.status_code, response.content[:500])
    assert_written(before, response.status_code == 201)


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(SECRET_NAMES), secret_values, min_size=1, max_size=6),
       extra=st.dictionaries(st.sampled_from(SECRET_NAMES), typed_text, max_size=3))
def test_api_secrets_are_never_repeated(world, data, extra):
    inputs = {**extra, **data}
    before = counts()
    response = world['api'].post(f'{API}/scripts/{world["secret"].pk}/run/', {'data': inputs, 'commit': False},
                                 format='json')
    assert response.status_code in (201, 400), (inputs, response.status_code, response.content[:500])
    body = response.content.decode()
    for value in data.values():
        assert value not in body, (value, body[:500])
    assert_written(before, response.status_code == 201)


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(SECRET_NAMES), secret_values | st.lists(secret_values, max_size=3),
                            min_size=1, max_size=6))
def test_form_any_inputs(world, data):
    before = counts()
    response = world['web'].post(world['secret'].get_absolute_url(), data)
    assert response.status_code in (200, 302), (data, response.status_code)
    page = response.content.decode()
    for value in data.values():
        for item in value if isinstance(value, list) else [value]:
            assert item not in page, item
    assert_written(before, response.status_code == 302)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from(SECRET_NAMES), secret_values | typed_text | json_values,
                            min_size=1, max_size=5))
def test_cli_any_inputs(world, data):
    before = counts()
    status, out, err = cli('run', world['secret'].full_name, '--user', world['admin'].username, '--background',
                           '--data', json.dumps(data))
    assert status in (0, 10), (data, status, err[-500:])
    assert 'Traceback' not in out + err
    for value in data.values():
        if isinstance(value, str) and value.startswith('S3CR3T-'):
            assert value not in out + err
    assert_written(before, status == 0)
