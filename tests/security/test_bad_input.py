"""
Contract: bad input - a typo, a value out of range, a huge body, a secret typed wrong - gets a clear 4xx and changes
nothing. Never a 500, never a partial write, never a guess (`{"comit": false}` does not commit), never a secret
repeated back.

- Unknown top-level fields are a 400 on every write endpoint (run, rerun, apply, approve, reject, schedules,
  modules; and any field at all on the actions that take none).
- Scheduling: a cron expression has exactly five fields, at most 100 characters, and must match some date; an
  interval is at most a year. Through the API, the run form and the schedule form alike.
- A request body over NetBox's DATA_UPLOAD_MAX_MEMORY_SIZE is a 413.
- The web re-run form's `commit` is 1/true/on or 0/false/off; anything else runs nothing.
- Errors never repeat the value of a secret input (any type, SecretVar or Meta.sensitive_variables): not in the
  API's 400, the form's errors or the CLI's output.
"""
import json

import pytest
from core.models import Job
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.models import Schedule, Script, ScriptRun

from ..utils import cli, make_user, token_header
from .helpers import API, UI, make_run, register_fixture, snapshot

pytestmark = pytest.mark.django_db

GENERIC_SECRET_ERROR = 'Invalid value (not shown: the variable is secret).'


@pytest.fixture
def admin(admin):
    sync_directory()  # pages and the CLI sync the scripts directory: done up front, it changes nothing later
    return admin


@pytest.fixture
def api(admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(admin))
    return client


@pytest.fixture
def web(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def hello():
    """A script with one optional input, scheduling enabled and commit on by default."""
    module = register_fixture('bad_input_hello', 'every_type.py')
    return module.scripts.get(class_name='EveryType')


@pytest.fixture
def secret_script():
    return register_fixture('bad_input_secret', 'every_type.py').scripts.get(class_name='EveryTypeSecret')


def assert_unchanged(before):
    after = snapshot()
    assert after == before, {key: (before[key], after[key]) for key in before if before[key] != after[key]}


#
# Unknown fields
#

def write_endpoints(world):
    """(method, URL, body, the field the endpoint does not know)."""
    dry, awaiting, script = world['dry_run'], world['awaiting'], world['script']
    return [
        ('post', f'{API}/scripts/{script.pk}/run/', {'data': {}, 'comit': False}, 'comit'),
        ('post', f'{API}/scripts/{script.pk}/run/', {'dry_run': True}, 'dry_run'),
        ('post', f'{API}/scripts/{script.pk}/run/', {'data': {}, 'commit': False, 'schedule': 'now'}, 'schedule'),
        ('post', f'{API}/runs/{dry.pk}/rerun/', {'data': {}, 'comit': False}, 'comit'),
        ('post', f'{API}/runs/{dry.pk}/apply/', {'dry_run': True}, 'dry_run'),
        ('post', f'{API}/runs/{awaiting.pk}/approve/', {'comment': 'ok', 'aprove': True}, 'aprove'),
        ('post', f'{API}/runs/{awaiting.pk}/reject/', {'comment': 'no', 'reason': 'typo'}, 'reason'),
        ('post', f'{API}/runs/{world["pending"].pk}/cancel/', {'force': True}, 'force'),
        ('post', f'{API}/scripts/{script.pk}/test/', {'commit': True}, 'commit'),
        ('post', f'{API}/schedules/', {'script_id': script.pk, 'cron': '0 2 * * *', 'comit': True}, 'comit'),
        ('patch', f'{API}/schedules/{world["schedule"].pk}/', {'comit': True}, 'comit'),
        ('post', f'{API}/schedules/{world["schedule"].pk}/pause/', {'now': True}, 'now'),
        ('post', f'{API}/modules/', {'name': 'typo_module', 'source_code': '# x\n', 'sorce_code': '# y\n'},
         'sorce_code'),
        ('patch', f'{API}/modules/{script.module.pk}/', {'descripton': 'typo'}, 'descripton'),
    ]


def test_unknown_top_level_fields_are_refused_and_run_nothing(admin, api, hello):
    world = {
        'script': hello,
        'dry_run': make_run(hello, admin, commit=False, marker='dry'),
        'awaiting': make_run(hello, make_user('requester'), status='awaiting_approval', approval_requested=True,
                             marker='awaiting'),
        'pending': make_run(hello, admin, status=RunStatusChoices.PENDING, marker='pending'),
        'schedule': Schedule.objects.create(name='nightly', script=hello, user=admin, cron='0 2 * * *'),
    }
    for method, url, body, unknown in write_endpoints(world):
        before = snapshot()
        response = getattr(api, method)(url, body, format='json')
        assert response.status_code == 400, (method, url, body, response.status_code, response.content)
        assert unknown in response.content.decode(), (url, response.content)
        assert_unchanged(before)


#
# Scheduling values
#

BAD_TIMING = [
    ({'interval': 10 ** 12}, 'interval'),
    ({'interval': 525601 * 2}, 'interval'),
    ({'cron': '0 0 30 2 *'}, 'cron'),  # 30 February: never
    ({'cron': '0 0 31 4 *'}, 'cron'),  # 31 April: never
    ({'cron': '* * * * * *'}, 'cron'),  # six fields: every second
    ({'cron': '* * * * * * *'}, 'cron'),
    ({'cron': '* ' * 7000}, 'cron'),
    ({'cron': '@reboot'}, 'cron'),
    ({'cron': '*/0 * * * *'}, 'cron'),
]


@pytest.mark.parametrize('timing, field', BAD_TIMING)
def test_bad_timing_is_a_400_through_the_api(api, hello, timing, field):
    before = snapshot()
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {}, 'commit': False, **timing}, format='json')
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    response = api.post(f'{API}/schedules/', {'script_id': hello.pk, 'name': 'x', **timing}, format='json')
    assert response.status_code == 400, response.content
    assert_unchanged(before)


@pytest.mark.parametrize('timing, field', BAD_TIMING)
def test_bad_timing_is_refused_by_the_forms(web, hello, timing, field):
    before = snapshot()
    response = web.post(hello.get_absolute_url(), {f'_{key}': value for key, value in timing.items()})
    assert response.status_code == 200  # the form again, with the error
    assert response.context['options_form'].errors or list(response.context['messages']), response.content[:500]
    response = web.post(f'{UI}/schedules/add/', {'name': 'x', 'script': hello.pk, 'inputs': '{}', **timing})
    assert response.status_code == 200 and field in response.context['form'].errors
    assert_unchanged(before)


def test_a_good_cron_still_works(api, hello):
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {}, 'commit': False, 'cron': '30 2 * * 1-5'},
                        format='json')
    assert response.status_code == 201, response.content
    assert Schedule.objects.get().cron == '30 2 * * 1-5'


#
# Bodies
#

@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2621440)
def test_a_body_over_the_limit_is_a_413(api, hello):
    before = snapshot()
    response = api.post(f'{API}/modules/', {'name': 'huge', 'source_code': '#' * (5 * 1024 * 1024)}, format='json')
    assert response.status_code == 413, response.content[:300]
    assert 'DATA_UPLOAD_MAX_MEMORY_SIZE' in response.json()['detail']
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {'text': 'x' * (3 * 1024 * 1024)}},
                        format='json')
    assert response.status_code == 413
    assert_unchanged(before)


#
# The web re-run form's commit flag
#

@pytest.mark.parametrize('value', ['yes', 'True1', '2', 'commit', ''])
def test_rerun_form_refuses_commit_values_it_would_have_to_guess(admin, web, hello, value):
    run = make_run(hello, admin, commit=False, marker='guess')
    before = snapshot()
    response = web.post(run.get_absolute_url() + 'rerun/', {'commit': value})
    assert response.status_code == 302 and response['Location'] == run.get_absolute_url()
    assert_unchanged(before)


@pytest.mark.parametrize('value, commit', [('1', True), ('true', True), ('TRUE', True), ('0', False),
                                           ('false', False)])
def test_rerun_form_takes_plain_yes_and_no(admin, web, hello, value, commit):
    run = make_run(hello, admin, commit=False, marker='plain')
    response = web.post(run.get_absolute_url() + 'rerun/', {'commit': value})
    assert response.status_code == 302
    assert ScriptRun.objects.get(rerun_of=run).commit is commit


#
# Secrets in errors
#

SECRET_CASES = [
    ('choice', 'not-a-choice-0x5EC12E7'),
    ('choices', ['alpha', 'zz-0x5EC12E7']),
    ('address', '10.0.0.999-0x5EC12E7'),
    ('address_with_mask', '0x5EC12E7/99'),
    ('network', '10.0.0.0/33-0x5EC12E7'),
    ('integer', '0x5EC12E7'),
    ('decimal', '0x5EC12E7.5'),
    ('day', '0x5EC12E7-13-45'),
    ('moment', 'tomorrow-0x5EC12E7'),
    ('string', 'UPPER-0x5EC12E7'),
    ('site', '0x5EC12E7'),
    ('sites', ['0x5EC12E7']),
    ('password', 'sh0rtx9'),
]


@pytest.mark.parametrize('name, value', SECRET_CASES)
def test_an_invalid_secret_is_never_repeated(admin, api, web, secret_script, name, value):
    secret = value if isinstance(value, str) else value[-1]
    before = snapshot()
    response = api.post(f'{API}/scripts/{secret_script.pk}/run/', {'data': {name: value}}, format='json')
    assert response.status_code == 400, response.content
    assert secret not in response.content.decode()
    assert response.json()['data'][name] == [GENERIC_SECRET_ERROR]

    form = {name: value}
    page = web.post(secret_script.get_absolute_url(), form)
    assert page.status_code == 200 and secret not in page.content.decode()
    assert GENERIC_SECRET_ERROR in page.content.decode()

    status, out, err = cli('run', secret_script.full_name, '--user', admin.username, '--data',
                           json.dumps({name: value}))
    assert status == 10 and secret not in out + err and GENERIC_SECRET_ERROR in err
    assert_unchanged(before)


def test_a_secret_quoted_by_the_scripts_own_clean_is_masked(admin, api):
    module = register_fixture('bad_input_secret_clean', 'secret_probe.py')
    script = module.scripts.get()
    # SecretProbe's api_key must match ^key-[0-9a-f]+$: the regex message does not quote it, but a value that fails
    # another secret's check must not appear anywhere either.
    response = api.post(f'{API}/scripts/{script.pk}/run/', {'data': {
        'label': 'probe', 'password': 'p4ssw0rd-0x5EC12E7-long', 'api_key': 'not-a-key-0x5EC12E7',
    }}, format='json')
    assert response.status_code == 400
    assert '0x5EC12E7' not in response.content.decode()
    assert not ScriptRun.objects.exists() and not Job.objects.exists()


def test_multi_values_are_checked_in_one_query_and_bounded(api, hello, django_assert_max_num_queries, settings):
    # Ten thousand IDs (none of which exist): answered in a handful of queries, not one per ID.
    with django_assert_max_num_queries(30):
        response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {'sites': list(range(1, 10001))}},
                            format='json')
    assert response.status_code == 400 and 'not one of the available choices' in str(response.json())
    limit = settings.PLUGINS_CONFIG['netbox_custom_scripts']['max_multi_items']
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {'sites': list(range(1, limit + 2))}},
                        format='json')
    assert response.status_code == 400 and 'setting max_multi_items' in str(response.json()['data']['sites'])
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {'choices': ['alpha'] * (limit + 1)}},
                        format='json')
    assert response.status_code == 400 and 'setting max_multi_items' in str(response.json()['data']['choices'])
    assert not ScriptRun.objects.exists()
    assert Script.objects.filter(pk=hello.pk).exists()


#
# Found by the outside attack
#

UNICODE_DIGIT = '\u00b2'  # '²': str.isdigit() says yes, int() says no


def test_unicode_digits_in_ids_and_numbers_are_not_a_500(admin, api, web, hello):
    run = make_run(hello, admin, marker='digits')
    for url in (f'{API}/scripts/{UNICODE_DIGIT}/', f'{API}/runs/{run.pk}/log/?since={UNICODE_DIGIT}',
                f'{API}/runs/{run.pk}/download/?file={UNICODE_DIGIT}',
                f'{API}/modules/{hello.module.pk}/revisions/?number={UNICODE_DIGIT}',
                f'{API}/runs/{run.pk}/log/?since={"9" * 5000}'):
        response = api.get(url)
        assert response.status_code in (400, 404), (url, response.status_code, response.content[:200])
    assert api.post(f'{API}/scripts/{UNICODE_DIGIT}/run/', {}, format='json').status_code == 404
    for url in (f'{UI}/runs/{run.pk}/log/?per_page={UNICODE_DIGIT}',
                f'{hello.get_absolute_url()}?rerun={UNICODE_DIGIT}',
                f'{UI}/modules/{hello.module.pk}/revisions/?number={UNICODE_DIGIT}',
                f'{hello.get_absolute_url()}?rerun={"9" * 30}'):
        response = web.get(url)
        assert response.status_code == 200, (url, response.status_code)
    status, out, err = cli('run', UNICODE_DIGIT, '--user', admin.username)
    assert status == 10 and 'Traceback' not in err


def test_json_nested_too_deeply_is_a_400(api, hello):
    before = snapshot()
    body = '{"data": ' + '[' * 100000 + ']' * 100000 + '}'
    response = api.generic('POST', f'{API}/scripts/{hello.pk}/run/', body, content_type='application/json')
    assert response.status_code == 400, response.content[:300]
    assert 'nested too deeply' in response.json()['detail']
    assert_unchanged(before)


@pytest.mark.parametrize('name', ['ok.__init__', '__init__', 'pkg.__main__', '__builtins__'])
def test_dunder_module_names_are_refused(api, name):
    # `ok.__init__` would be stored as custom_scripts/ok/__init__.py: the file of the package `ok`.
    before = snapshot()
    response = api.post(f'{API}/modules/', {'name': name, 'source_code': 'x = 1\n'}, format='json')
    assert response.status_code == 400 and 'name' in response.json(), response.content
    assert_unchanged(before)


def test_read_only_fields_are_refused_not_ignored(admin, api, hello):
    schedule = Schedule.objects.create(name='nightly', script=hello, user=admin, cron='0 2 * * *')
    for body, field, words in [
        ({'enabled': False}, 'enabled', 'pause'),  # it must not look as if it paused the schedule
        ({'user': 1}, 'user', 'runs as'),
        ({'next_run_at': '2030-01-01T00:00:00Z'}, 'next_run_at', 'Read-only'),
        ({'script': hello.pk}, 'script', 'script_id'),
    ]:
        before = snapshot()
        response = api.patch(f'{API}/schedules/{schedule.pk}/', body, format='json')
        assert response.status_code == 400 and words in response.json()[field][0], (body, response.content)
        assert_unchanged(before)
    response = api.post(f'{API}/schedules/', {'name': 'x', 'script_id': hello.pk, 'cron': '0 3 * * *', 'user': 1},
                        format='json')
    assert response.status_code == 400 and 'user' in response.json()
    # Identity fields sent back from a GET are harmless and pass.
    response = api.patch(f'{API}/schedules/{schedule.pk}/', {'id': schedule.pk, 'description': 'x'}, format='json')
    assert response.status_code == 200, response.content
    response = api.patch(f'{API}/schedules/{schedule.pk}/', {'interval': 10 ** 12}, format='json')
    assert response.status_code == 400 and '527040' in str(response.json()['interval'])
    assert Schedule.objects.get(pk=schedule.pk).description == 'x'


def test_a_schedule_of_a_script_that_cannot_be_scheduled_names_its_own_field(api):
    module = register_fixture('bad_input_unschedulable', 'every_type.py')
    script = module.scripts.get(class_name='EveryType')
    Script.objects.filter(pk=script.pk).update(meta={**script.meta, 'scheduling_enabled': False})
    # The record says what the class says: make the class say it too.
    source = module.current_revision.source_code.replace(
        '    class Meta:\n        commit_default = True\n\n    string',
        '    class Meta:\n        commit_default = True\n        scheduling_enabled = False\n\n    string', 1)
    from netbox_custom_scripts.execution import save_source
    save_source(module.name, source, source=module.source, file_path=module.file_path, module=module)
    response = api.post(f'{API}/schedules/', {'name': 'x', 'script_id': script.pk, 'cron': '0 3 * * *'},
                        format='json')
    assert response.status_code == 400 and 'start_at' in response.json() and 'schedule_at' not in response.json()


def test_a_secret_in_a_schedule_says_secrets_cannot_be_scheduled(api, secret_script):
    response = api.post(f'{API}/schedules/', {
        'name': 'x', 'script_id': secret_script.pk, 'cron': '0 3 * * *', 'inputs': {'password': 'long-enough-password'},
    }, format='json')
    assert response.status_code == 400, response.content
    body = response.content.decode()
    assert 'cannot be scheduled' in body and 'long-enough-password' not in body


def test_a_nul_in_a_search_is_not_a_500(admin, web, hello):
    run = make_run(hello, admin, marker='nul')
    assert web.get(f'{UI}/runs/{run.pk}/log/?q=a%00b').status_code == 200
    assert web.get(f'{UI}/scripts/?q=%00').status_code == 200


@pytest.mark.parametrize('name, value', [('string', [1, 2]), ('text', {'a': 1}), ('integer', [5]),
                                         ('site', [1]), ('sites', {'id': 1}), ('choices', {'alpha': True})])
def test_a_list_or_object_for_the_wrong_kind_of_variable_is_refused(api, hello, name, value):
    before = snapshot()
    response = api.post(f'{API}/scripts/{hello.pk}/run/', {'data': {name: value}}, format='json')
    assert response.status_code == 400, response.content
    assert 'Expected a' in response.json()['data'][name][0]
    assert_unchanged(before)


def test_a_refused_resume_changes_nothing(admin, api):
    # Committed runs of CommitGated need the `commit` permission; a user without it cannot make the schedule theirs.
    import os

    from netbox_custom_scripts.execution import save_source

    from ..utils import REPO

    with open(os.path.join(REPO, 'tests', 'fixtures', 'governance', 'governance.py'), encoding='utf-8') as f:
        module = save_source('governance', f.read(), source='upload', file_path='custom_scripts/governance.py',
                             reject_invalid=True)
    gated = module.scripts.get(class_name='CommitGated')
    schedule = Schedule.objects.create(name='gated', script=gated, user=admin, inputs={'site_name': 'x'},
                                       commit=True, interval=60, enabled=False)
    runner = make_user('resumer', (Script, ['view', 'run']), (Schedule, ['view', 'change']))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(runner))
    before = snapshot()
    response = client.post(f'{API}/schedules/{schedule.pk}/resume/', format='json')
    assert response.status_code == 403, response.content
    assert_unchanged(before)
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.user) == (False, admin)
    # Editing it is refused the same way (the editor would answer for committed runs they may not make).
    response = client.patch(f'{API}/schedules/{schedule.pk}/', {'description': 'mine'}, format='json')
    assert response.status_code == 403 and Schedule.objects.get(pk=schedule.pk).user == admin
