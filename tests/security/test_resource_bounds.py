"""
Contract: what one user can send or make a script produce is bounded, and answered quickly. The request body
(413, tests/security/test_bad_input.py), multi-value inputs (max_multi_items, same file) and GraphQL queries
(test_graphql_bounds.py) have their own tests; here: a log line longer than max_log_line_length is cut when it is
recorded (saying how much was left out), so neither the database nor the run's pages hold a line of any size.
"""
import pytest
from django.test import Client

from netbox_custom_scripts.testing import run_script_in_transaction

from ..utils import make_user
from .helpers import register_fixture

pytestmark = pytest.mark.django_db


def big_line_class():
    module = register_fixture('big_log', 'big_log.py')
    namespace = {}
    exec(module.current_revision.source_code, namespace)
    return namespace['BigLine']


def test_a_huge_log_line_is_cut_when_recorded(settings):
    limit = settings.PLUGINS_CONFIG['netbox_custom_scripts']['max_log_line_length']
    admin = make_user('bounds-admin', is_superuser=True)
    run = run_script_in_transaction(big_line_class(), {'size': 20 * 1024 * 1024}, user=admin)
    lines = [line.message for line in run.log_entries]
    assert len(lines[0]) < limit + 200 and lines[0].startswith('x' * 100)
    assert f'{20 * 1024 * 1024 - limit} more characters cut' in lines[0]
    assert lines[1] == 'after'
    client = Client()
    client.force_login(admin)
    page = client.get(f'/plugins/custom-scripts/runs/{run.pk}/log/')
    assert page.status_code == 200 and len(page.content) < 2 * limit + 100_000


def test_a_line_under_the_limit_is_kept_whole(settings):
    limit = settings.PLUGINS_CONFIG['netbox_custom_scripts']['max_log_line_length']
    admin = make_user('bounds-admin', is_superuser=True)
    run = run_script_in_transaction(big_line_class(), {'size': limit}, user=admin)
    assert run.log_entries.first().message == 'x' * limit


def big_output_class():
    module = register_fixture('big_output', 'big_log.py')
    namespace = {}
    exec(module.current_revision.source_code, namespace)
    return namespace['BigOutput']


def test_a_huge_output_is_cut_and_lists_leave_it_out(settings):
    from rest_framework.test import APIClient

    from ..utils import token_header
    from .helpers import API

    limit = settings.PLUGINS_CONFIG['netbox_custom_scripts']['max_output_size']
    admin = make_user('bounds-admin', is_superuser=True)
    runs = [run_script_in_transaction(big_output_class(), {'size': 3 * limit}, user=admin) for _ in range(3)]
    for run in runs:
        run.refresh_from_db()
        assert len(run.output) < limit + 300 and 'more characters cut' in run.output
        assert run.output_format == 'text'
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(admin))
    listing = api.get(f'{API}/runs/?limit=100')
    assert listing.status_code == 200 and 'output' not in listing.json()['results'][0]
    assert len(listing.content) < 100_000  # three runs of a megabyte each, listed in a few kilobytes
    detail = api.get(f'{API}/runs/{runs[0].pk}/').json()
    assert detail['output'].startswith('y' * 100)
    # GraphQL gives the output of one run at a time, never of a list of them.
    one = api.post('/graphql/', {'query': f'{{ custom_script_run(id: {runs[0].pk}) {{ output }} }}'}, format='json')
    assert one.json()['data']['custom_script_run']['output'].startswith('y' * 100)
    many = api.post('/graphql/', {'query': '{ a: custom_script_run_list { id output } }'}, format='json').json()
    assert 'one run at a time' in str(many['errors']) and len(str(many)) < 100_000


def test_long_inputs_are_summarised_in_lists(settings):
    # Inputs are bounded only by the request size (2.5 MB): a page of runs lists each long value by its length.
    from rest_framework.test import APIClient

    from ..utils import token_header
    from .helpers import API

    module = register_fixture('long_inputs', 'every_type.py')
    namespace = {}
    exec(module.current_revision.source_code, namespace)
    admin = make_user('bounds-admin', is_superuser=True)
    text = 'z' * (2 * 1024 * 1024)
    runs = [run_script_in_transaction(namespace['EveryType'], {'text': text}, user=admin, commit=False)
            for _ in range(3)]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(admin))
    listing = api.get(f'{API}/runs/?limit=100')
    assert listing.status_code == 200 and len(listing.content) < 100_000
    assert listing.json()['results'][0]['inputs']['text'] == f'[{len(text)} characters: see the run]'
    assert api.get(f'{API}/runs/{runs[0].pk}/').json()['inputs']['text'] == text
    query = '{ custom_script_run_list { id inputs } }'
    many = api.post('/graphql/', {'query': query}, format='json').json()
    assert 'errors' not in many and len(str(many)) < 100_000
    one = api.post('/graphql/', {'query': f'{{ custom_script_run(id: {runs[0].pk}) {{ inputs }} }}'},
                   format='json').json()
    assert one['data']['custom_script_run']['inputs']['text'] == text
