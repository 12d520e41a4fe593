"""
The permission matrix: every page and every REST endpoint of the plugin, for every role (see helpers.py), with the
outcome each role must get. The matrix itself (its rows, by route and endpoint) is in matrix.py.

Contract:

- a role the matrix allows gets the page (200; or the redirect a form post answers with) and the request does
  what it says (a run is created, a schedule paused, a module deleted, ...);
- a role the matrix refuses gets a refusal (login redirect, 401, 403 or 404: never the object) and the request
  changes nothing: no run record, no core Job (so nothing is queued: jobs reach RQ only once one is written), no
  changed schedule, module, revision or file, no change-log entry, and no transaction.on_commit() callback (RQ
  enqueues and storage writes wait for those);
- lists and object tabs show a role only the objects it may view (the runner: the one script, its own runs).

The URL patterns are enumerated from Django's resolver (netbox_custom_scripts/urls.py and api/urls.py, with the
views NetBox adds for the plugin's models): a page or endpoint the matrix does not list fails
test_every_page_is_in_the_matrix / test_every_endpoint_is_in_the_matrix, so a new view cannot ship without its row.

Cells where the code and the documentation disagree are checked for safety only here (a refusal changes nothing, a
success does what it says) and for the documented outcome in test_permission_surfaces.py. GraphQL, the CLI and the
buttons on the pages are in test_permission_surfaces.py; anonymous-user redirects of a few pages also in
tests/test_views.py, and the upload permission checks in tests/test_module_sources.py.
"""
import pytest
from django.db import transaction
from django.urls import reverse

from .helpers import ROLES, snapshot
from .matrix import (
    API_MATRIX,
    NOBODY,
    UI_MATRIX,
    Case,
    api,
    plugin_endpoints,
    plugin_pages,
)

pytestmark = pytest.mark.django_db


def test_every_page_is_in_the_matrix():
    pages = plugin_pages()
    assert len(pages) > 30  # the enumeration itself works
    assert not pages - set(UI_MATRIX), f'pages without a row in UI_MATRIX: {sorted(pages - set(UI_MATRIX))}'
    assert not set(UI_MATRIX) - pages, f'rows for pages that no longer exist: {sorted(set(UI_MATRIX) - pages)}'


def test_every_endpoint_is_in_the_matrix():
    endpoints = plugin_endpoints()
    assert len(endpoints) > 20
    missing, stale = endpoints - set(API_MATRIX), set(API_MATRIX) - endpoints
    assert not missing, f'endpoints without a row in API_MATRIX: {sorted(missing)}'
    assert not stale, f'rows for endpoints that no longer exist: {sorted(stale)}'


#
# Running the matrix
#

def refused(response, bounce=None):
    if response.status_code in (401, 403, 404):
        return True
    if response.status_code != 302:
        return False
    return response['Location'].startswith(reverse('login')) or response['Location'] == bounce


def resolve(world, markers):
    return [m(world) if callable(m) else m for m in markers]


def send(world, role, case, is_api):
    url = case.url(world)
    data = case.data(world) if case.data else None
    client = world.api(role) if is_api else world.ui(role)
    if case.method == 'get':
        return client.get(url)
    if is_api:
        return getattr(client, case.method)(url, data, format='json')
    return getattr(client, case.method)(url, data or {})


def check_case(world, role, case, is_api, capture):
    """Send the case's request as `role`, in a savepoint rolled back afterwards; returns a list of problems."""
    problems = []
    label = f'{role} {case.method.upper()} {case.url(world)}'
    bounce = case.bounce(world) if case.bounce else None
    with transaction.atomic():
        before = snapshot()
        with capture() as callbacks:
            response = send(world, role, case, is_api)
        status = response.status_code
        content = response.content.decode(errors='replace') if not getattr(response, 'streaming', False) else ''
        if role in case.either:
            if refused(response, bounce):
                if snapshot() != before or callbacks:
                    problems.append(f'{label}: refused ({status}) but changed something')
            elif status not in case.ok_statuses() or (case.effect and not case.effect(world, before)):
                problems.append(f'{label}: neither refused nor done ({status})')
        elif role in case.allowed:
            if status not in case.ok_statuses() or (status == 302 and refused(response)):
                problems.append(f'{label}: expected success, got {status} {content[:300]!r}')
            elif case.effect is not None and not case.effect(world, before):
                problems.append(f'{label}: answered {status} but did not do what it says')
            for text in resolve(world, case.shows.get(role, [])):
                if text not in content:
                    problems.append(f'{label}: does not show {text!r}')
            for text in resolve(world, case.hides.get(role, [])):
                if text in content:
                    problems.append(f'{label}: shows {text!r}, which {role} may not see')
        else:
            if not refused(response, bounce):
                problems.append(f'{label}: expected a refusal, got {status} {content[:300]!r}')
            after = snapshot()
            if after != before:
                changed = sorted(key for key in before if before[key] != after[key])
                problems.append(f'{label}: refused, but changed {changed}')
            if callbacks:
                problems.append(f'{label}: refused, but left {len(callbacks)} on_commit callback(s) (a job queued?)')
        transaction.set_rollback(True)
    return problems


def run_cases(world, cases, is_api, capture):
    problems = []
    for case in cases:
        for role in ROLES:
            problems.extend(check_case(world, role, case, is_api, capture))
    assert not problems, '\n'.join(problems)


# One world per area (building it takes a second); each route is a subtest of its own.
AREAS = ('scripts', 'runs', 'schedules', 'modules')
API_AREAS = {'api-root': 'scripts', 'script': 'scripts', 'scriptrun': 'runs', 'schedule': 'schedules',
             'scriptmodule': 'modules', 'migrate_builtin': 'modules'}


def api_area(endpoint):
    name = endpoint[0]
    return API_AREAS[name if name == 'api-root' else name.rsplit('-', 1)[0]]


@pytest.mark.parametrize('area', AREAS)
def test_pages(world, area, subtests, django_capture_on_commit_callbacks):
    routes = sorted(route for route in UI_MATRIX if route.split('/')[0] == area)
    assert routes
    for route in routes:
        with subtests.test(msg=route):
            run_cases(world, UI_MATRIX[route], False, django_capture_on_commit_callbacks)


@pytest.mark.parametrize('area', AREAS)
def test_endpoints(world, area, subtests, django_capture_on_commit_callbacks):
    endpoints = sorted(endpoint for endpoint in API_MATRIX if api_area(endpoint) == area)
    assert endpoints
    for endpoint in endpoints:
        with subtests.test(msg=f'{endpoint[1].upper()} {endpoint[0]}'):
            run_cases(world, API_MATRIX[endpoint], True, django_capture_on_commit_callbacks)


def test_the_matrix_can_fail(world, django_capture_on_commit_callbacks):
    """A matrix row that allows the wrong role, or misses a refusal's side effect, is reported."""
    wrong = Case('get', api(lambda w: f'runs/{w.runs["admin_count"].pk}/'), frozenset({'runner'}))
    assert check_case(world, 'runner', wrong, True, django_capture_on_commit_callbacks)
    assert check_case(world, 'viewer', wrong, True, django_capture_on_commit_callbacks)
    leaky = Case('post', api(lambda w: 'scripts/basic.Hello/run/'), NOBODY, data=lambda w: {'data': {}})
    problems = check_case(world, 'admin', leaky, True, django_capture_on_commit_callbacks)
    assert any('expected a refusal' in p for p in problems) and any('changed' in p for p in problems), problems
