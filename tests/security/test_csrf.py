"""
Cross-site request forgery: a logged-in user's browser session is not enough to change anything.

Contract: a POST to any page of the plugin (every route Django resolves for it, with the very data the permission
matrix posts to succeed) without a CSRF token is refused with 403, and changes nothing - no record, no job, no
on_commit callback; the same POST with the token works (so the token is what made the difference). The REST API,
used with a session cookie instead of a token, refuses unsafe requests without the CSRF token too.
"""
import pytest
from django.db import transaction

from netbox_custom_scripts.models import ScriptRun

from .helpers import API, snapshot, ui_client
from .matrix import UI_MATRIX, plugin_pages

pytestmark = pytest.mark.django_db


def forged_posts(world):
    """(route, URL, data) for every page: its matrix POST when it has one, else a POST to its first URL."""
    for route, cases in sorted(UI_MATRIX.items()):
        posts = [case for case in cases if case.method == 'post']
        case = posts[0] if posts else cases[0]
        yield route, case.url(world), case.data(world) if (posts and case.data) else {}


def csrf_token(client, url):
    client.get(url)
    return client.cookies['csrftoken'].value


def test_every_page_refuses_a_post_without_the_csrf_token(world, django_capture_on_commit_callbacks):
    assert set(UI_MATRIX) == plugin_pages()  # every page, as test_permission_matrix.py checks too
    client = ui_client(world.users['admin'], enforce_csrf_checks=True)
    problems = []
    for route, url, data in forged_posts(world):
        with transaction.atomic():
            before = snapshot()
            with django_capture_on_commit_callbacks() as callbacks:
                response = client.post(url, data)
            if response.status_code != 403 or b'CSRF' not in response.content:
                problems.append(f'{route}: POST without a CSRF token answered {response.status_code}')
            if snapshot() != before or callbacks:
                problems.append(f'{route}: POST without a CSRF token changed something')
            transaction.set_rollback(True)
    assert not problems, '\n'.join(problems)


def test_the_token_is_what_makes_the_difference(world):
    client = ui_client(world.users['admin'], enforce_csrf_checks=True)
    url = world.hello.get_absolute_url()
    assert client.post(url, {'who': 'forged'}).status_code == 403
    token = csrf_token(client, url)
    response = client.post(url, {'who': 'genuine', 'csrfmiddlewaretoken': token})
    assert response.status_code == 302
    assert world.hello.runs.filter(inputs__who='genuine').exists()
    assert not world.hello.runs.filter(inputs__who='forged').exists()


def test_the_api_with_a_session_needs_the_csrf_token(world):
    client = ui_client(world.users['admin'], enforce_csrf_checks=True)
    url = f'{API}/scripts/basic.Hello/run/'
    response = client.post(url, {'data': {'who': 'forged'}}, content_type='application/json')
    assert response.status_code == 403 and 'CSRF' in response.json()['detail']
    response = client.delete(f'{API}/runs/{world.runs["admin_count"].pk}/')
    assert response.status_code == 403
    assert ScriptRun.objects.filter(pk=world.runs['admin_count'].pk).exists()
    token = csrf_token(client, world.hello.get_absolute_url())
    response = client.post(url, {'data': {'who': 'genuine'}}, content_type='application/json',
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert not world.hello.runs.filter(inputs__who='forged').exists()
