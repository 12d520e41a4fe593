"""
Contract: what one user can send or make a script produce is bounded, and answered quickly. The request body
(413, tests/security/test_bad_input.py), multi-value inputs (max_multi_items, same file) and GraphQL queries
(test_graphql_bounds.py) have their own tests; here: a log line longer than max_log_line_length is cut when it is
recorded (saying how much was left out), so neither the database nor the run's pages hold a line of any size.
"""
import pytest
from django.test import Client

from netbox_custom_scripts.models import RunLogEntry
from netbox_custom_scripts.testing import run_script_in_transaction

from ..utils import make_user
from .conftest import register_fixture

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
    lines = list(RunLogEntry.objects.filter(run=run).order_by('pk').values_list('message', flat=True))
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
    assert RunLogEntry.objects.filter(run=run).order_by('pk').first().message == 'x' * limit
