"""
The permission matrix beyond the URL patterns (test_permission_matrix.py): the buttons and menu entries each role
is shown, GraphQL, the CLI, and the cells where the plugin and docs/configuration.md disagree.

Contract:

- a page offers an action (button, link, menu entry) only to a role that may take it; a run form's button is
  disabled for a role that may not run the script;
- GraphQL lists show each role only the objects it may view, nested lists and objects included (a run's script
  the role may not view is null); a single object it may not view is an error without data; anonymous requests are
  sent to the login page. Every query field of the plugin's schema is enumerated, so a new one fails the suite until
  it is checked here;
- the CLI's `--user` subcommands (run, rerun, apply, test, approve, reject) do what that user may do and refuse the
  rest with exit status 10 (EXIT_REFUSED), leaving no run, no job and no changed record; unknown and inactive users
  are refused the same way. The subcommands are enumerated from the command's parser: a new one fails the suite until
  it is in CLI_MATRIX. `list`, `show` and `sync` act as the operator (whoever runs `netbox` on the host) and take no
  user; `migrate-builtin` needs a stock installation and is checked in tests/test_migrate_builtin.py;
- re-run and apply need only `run` on the script and `view` on the run, over the API too; the Jobs tab of a script
  lists only jobs the user may view; the script list offers Run only for scripts the user may run; editing someone
  else's schedule never makes it run, as its owner, what the owner did not choose (nor commit what the editor may not
  commit): the schedule runs as whoever last changed it.

The "Run script" buttons on the pages of other objects (Meta.object_types) are covered by tests/test_object_buttons.py.
"""
import argparse
import re

import pytest
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.graphql.schema import CustomScriptsQuery
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED, Command
from netbox_custom_scripts.models import Schedule, Script, ScriptRun

from ..utils import cli, make_user
from .helpers import API, UI, api_client, make_run, snapshot, ui_client

#
# Buttons and menus
#


def page(world, role, url):
    response = world.ui(role).get(url)
    assert response.status_code == 200, (role, url, response.status_code)
    return response.content.decode()


def offered(html, marker):
    return marker in html


@pytest.mark.django_db
def test_run_page_buttons(world):
    own = world.runs['runner_hello']
    expected = {
        # role: (cancel, rerun, apply, edit and run, delete)
        'viewer': (False, False, False, False, False),
        'runner': (False, True, True, True, False),
        'admin': (False, True, True, True, True),
    }
    for role, buttons in expected.items():
        html = page(world, role, own.get_absolute_url())
        shown = tuple(offered(html, m) for m in (
            'id="cancel-run"', 'id="rerun"', 'id="apply-run"', 'id="edit-and-run"', f'{own.get_absolute_url()}delete/',
        ))
        assert shown == buttons, role
    pending = world.runs['admin_pending'].get_absolute_url()
    assert offered(page(world, 'admin', pending), 'id="cancel-run"')
    assert not offered(page(world, 'viewer', pending), 'id="cancel-run"')
    awaiting = world.runs['runner_awaiting'].get_absolute_url()
    assert offered(page(world, 'admin', awaiting), 'id="review-run"')
    for role in ('viewer', 'runner'):  # the runner requested it: someone else reviews
        assert not offered(page(world, role, awaiting), 'id="review-run"'), role


@pytest.mark.django_db
def test_script_page_run_button(world):
    def button(role, script):
        html = page(world, role, script.get_absolute_url())
        return re.search(r'<button[^>]*id="run-script"[^>]*>', html).group(0), html

    for role, script in (('runner', world.hello), ('admin', world.count), ('admin', world.hello)):
        tag, __ = button(role, script)
        assert 'disabled' not in tag, role
    for role, script in (('viewer', world.hello), ('viewer', world.count)):
        tag, html = button(role, script)
        assert 'disabled' in tag, role
    assert offered(page(world, 'admin', world.tested.get_absolute_url()), 'id="run-tests"')
    assert not offered(page(world, 'viewer', world.tested.get_absolute_url()), 'id="run-tests"')


@pytest.mark.django_db
def test_schedule_and_module_buttons(world):
    schedule = world.schedule.get_absolute_url()
    for role, shown in (('viewer', False), ('admin', True)):
        html = page(world, role, schedule)
        for marker in ('id="pause-schedule"', f'{schedule}edit/', f'{schedule}delete/'):
            assert offered(html, marker) is shown, (role, marker)
    module = world.upload.get_absolute_url()
    for role, shown in (('viewer', False), ('editor', True), ('admin', True)):
        html = page(world, role, module)
        for marker in (f'{module}edit/', f'{module}delete/'):
            assert offered(html, marker) is shown, (role, marker)
    data_module = world.data_module.get_absolute_url()
    assert offered(page(world, 'admin', data_module), f'action="{data_module}sync/"')
    assert not offered(page(world, 'editor', data_module), f'{data_module}sync/')  # no `sync` permission
    for role, shown in (('viewer', False), ('editor', True), ('admin', True)):
        html = page(world, role, f'{UI}/modules/')
        for marker in (f'{UI}/modules/add/', f'{UI}/modules/add-from-data-source/'):
            assert offered(html, marker) is shown, (role, marker)


@pytest.mark.django_db
def test_menu_entries(world):
    entries = {
        'scripts': f'{UI}/scripts/', 'runs': f'{UI}/runs/', 'schedules': f'{UI}/schedules/',
        'modules': f'{UI}/modules/', 'upload': f'{UI}/modules/add/', 'add schedule': f'{UI}/schedules/add/',
    }
    expected = {
        'viewer': {'scripts', 'runs', 'schedules', 'modules'},
        'runner': {'scripts', 'runs'},
        'editor': {'modules', 'upload'},
        'admin': set(entries),
    }
    for role, shown in expected.items():
        html = page(world, role, '/')
        assert {name for name, url in entries.items() if f'href="{url}"' in html} == shown, role


@pytest.mark.django_db
def test_script_list_upload_button(world):
    assert offered(page(world, 'admin', f'{UI}/scripts/'), f'{UI}/modules/add/')
    for role in ('viewer', 'runner'):
        assert not offered(page(world, role, f'{UI}/scripts/'), f'{UI}/modules/add/'), role


@pytest.mark.django_db
def test_script_list_offers_run_only_for_scripts_one_may_run(world):
    def rows(role):
        html = page(world, role, f'{UI}/scripts/')
        return dict(re.findall(r'<tr class="script-row" data-script="([^"]+)">(.*?)</tr>', html, re.S))

    assert 'mdi-play' in rows('admin')['basic.Count']
    runner = rows('runner')
    assert set(runner) == {'basic.Hello'} and 'mdi-play' in runner['basic.Hello']
    viewer = rows('viewer')
    assert {'basic.Hello', 'basic.Count'} <= set(viewer)
    assert not [name for name, row in viewer.items() if 'mdi-play' in row]


@pytest.mark.django_db
def test_jobs_tab_lists_only_jobs_one_may_view(world):
    job_link = f'/core/jobs/{world.job.pk}/'
    assert offered(page(world, 'admin', f'{UI}/scripts/{world.hello.pk}/jobs/'), job_link)
    for role in ('viewer', 'runner'):  # no permission on core jobs
        response = world.ui(role).get(f'{UI}/scripts/{world.hello.pk}/jobs/')
        assert response.status_code in (403, 404) or job_link not in response.content.decode(), role


#
# The runner's own runs over the API (docs/configuration.md: `run` allows to re-run and apply)
#

@pytest.mark.django_db
@pytest.mark.parametrize('action', ['rerun', 'apply'])
def test_a_runner_reruns_and_applies_their_own_run_over_the_api(world, action):
    run = world.runs['runner_hello']
    response = world.api('runner').post(f'{API}/runs/{run.pk}/{action}/', {}, format='json')
    assert response.status_code == 201, response.content
    assert ScriptRun.objects.get(pk=response.json()['id']).rerun_of == run


#
# Schedules edited by someone else than their owner
#

@pytest.mark.django_db
@pytest.mark.parametrize('through', ['api', 'form'])
def test_editing_someone_elses_schedule_does_not_run_as_its_owner(world, settings, through):
    plugin = dict(settings.PLUGINS_CONFIG['netbox_custom_scripts'], commit_requires_permission=True)
    settings.PLUGINS_CONFIG = {**settings.PLUGINS_CONFIG, 'netbox_custom_scripts': plugin}
    planner = make_user('sec-planner', (Script, ['view', 'run'], {'class_name': 'Hello'}),
                             (Schedule, ['view', 'change']))
    # Without the commit permission, the planner's own committed runs wait for approval.
    response = api_client(planner).post(f'{API}/scripts/basic.Hello/run/', {'data': {'who': 'x'}, 'commit': True},
                                        format='json')
    assert response.status_code == 201 and response.json()['approval_requested'] is True
    schedule = world.schedule
    if through == 'api':
        response = api_client(planner).patch(f'{API}/schedules/{schedule.pk}/',
                                             {'inputs': {'who': 'planner'}, 'commit': True}, format='json')
    else:
        response = ui_client(planner).post(f'{schedule.get_absolute_url()}edit/', {
            'name': schedule.name, 'script': world.hello.pk, 'inputs': '{"who": "planner"}', 'commit': 'on',
            'cron': schedule.cron, 'notifications': 'always',
        })
    schedule.refresh_from_db()
    if schedule.inputs == {'who': 'planner'}:  # the edit went through
        waiting = ScriptRun.objects.filter(schedule=schedule, status__in=RunStatusChoices.WAITING)
        assert waiting.exists()
        assert all(run.user == planner for run in waiting), [(run.user, run.inputs, run.commit) for run in waiting]
        assert not waiting.filter(commit=True).exists()
    else:
        assert response.status_code in (200, 400, 403, 404) and not schedule.commit


#
# GraphQL
#

def graphql(world, role, query):
    client = world.api(role) if role != 'anonymous' else APIClient()
    return client.post('/graphql/', {'query': query}, format='json')


def gql_data(world, role, query):
    response = graphql(world, role, query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert 'errors' not in body, body
    return body['data']


def ids(rows):
    return {int(row['id']) for row in rows}


GRAPHQL_FIELDS = {
    'custom_script_list', 'custom_script', 'custom_script_module_list', 'custom_script_module',
    'custom_script_run_list', 'custom_script_run',
}


def test_every_graphql_field_is_checked():
    fields = {f.name for f in CustomScriptsQuery.__strawberry_definition__.fields}
    assert fields == GRAPHQL_FIELDS, f'query fields not covered here: {sorted(fields ^ GRAPHQL_FIELDS)}'


@pytest.mark.django_db
def test_graphql_lists_are_filtered(world):
    runs = {name: run.pk for name, run in world.runs.items()}
    odd = make_run(world.count, world.users['runner'], marker='odd')  # the runner's run of a script they cannot see
    query = """{
      custom_script_list { id }
      custom_script_module_list { id scripts { id } }
      custom_script_run_list { id script { id } }
    }"""
    everything = gql_data(world, 'admin', query)
    assert {world.hello.pk, world.count.pk} <= ids(everything['custom_script_list'])
    assert set(runs.values()) | {odd.pk} == ids(everything['custom_script_run_list'])

    runner = gql_data(world, 'runner', query)
    assert ids(runner['custom_script_list']) == {world.hello.pk}
    assert runner['custom_script_module_list'] == []
    assert ids(runner['custom_script_run_list']) == {runs['runner_hello'], runs['runner_awaiting'], odd.pk}
    scripts = {int(row['id']): row['script'] for row in runner['custom_script_run_list']}
    assert scripts[odd.pk] is None and scripts[runs['runner_hello']] == {'id': str(world.hello.pk)}

    editor = gql_data(world, 'editor', query)
    assert editor['custom_script_list'] == [] and editor['custom_script_run_list'] == []
    assert ids(editor['custom_script_module_list']) == set(Script.objects.values_list('module', flat=True)) | {
        world.upload.pk, world.data_module.pk,
    }
    assert all(module['scripts'] == [] for module in editor['custom_script_module_list'])

    viewer = gql_data(world, 'viewer', query)
    assert ids(viewer['custom_script_run_list']) == ids(everything['custom_script_run_list'])

    response = graphql(world, 'anonymous', query)
    assert response.status_code == 302 and response['Location'].startswith('/login/')


@pytest.mark.django_db
def test_graphql_single_objects_one_may_not_view_are_errors(world):
    cases = [
        ('custom_script', world.hello.pk, {'viewer', 'runner', 'admin'}),
        ('custom_script', world.count.pk, {'viewer', 'admin'}),
        ('custom_script_run', world.runs['runner_hello'].pk, {'viewer', 'runner', 'admin'}),
        ('custom_script_run', world.runs['admin_count'].pk, {'viewer', 'admin'}),
        ('custom_script_module', world.upload.pk, {'viewer', 'editor', 'admin'}),
    ]
    for field, pk, allowed in cases:
        query = f'{{ {field}(id: {pk}) {{ id }} }}'
        for role in ('viewer', 'runner', 'editor', 'admin'):
            if role in allowed:
                assert gql_data(world, role, query)[field] == {'id': str(pk)}, (field, role)
            else:
                body = graphql(world, role, query).json()
                assert body.get('errors') and not (body.get('data') or {}).get(field), (field, role, body)


#
# The CLI
#


def subcommands():
    parser = Command().create_parser('netbox', 'custom_scripts')
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


# Operator commands: whoever can run `netbox` on the host has the database already.
OPERATOR_COMMANDS = {'list', 'show', 'sync'}
# Needs a stock installation to act on: its refusals (unknown user, no `migrate` right, nothing changed) are tested
# in tests/test_migrate_builtin.py.
MIGRATION_COMMANDS = {'migrate-builtin'}

# subcommand -> [(arguments given the world, roles that may)]: the arguments follow `<subcommand>`, `--user` is added.
CLI_MATRIX = {
    'run': [
        (lambda w: ['basic.Hello', '--data', '{"who": "cli"}'], {'runner', 'admin'}),
        (lambda w: ['basic.Count', '--data', '{"times": 1}'], {'admin'}),
        (lambda w: ['basic.Count', '--data', '{"times": 1}', '--background'], {'admin'}),
    ],
    'rerun': [
        (lambda w: [str(w.runs['runner_hello'].pk)], {'runner', 'admin'}),
        (lambda w: [str(w.runs['admin_count'].pk)], {'admin'}),
    ],
    'apply': [(lambda w: [str(w.runs['runner_hello'].pk)], {'runner', 'admin'})],
    'test': [(lambda w: [w.tested.full_name], {'admin'})],
    # The requester (the runner) may not review their own run; only admin holds `approve`.
    'reject': [(lambda w: [str(w.runs['runner_awaiting'].pk), '--comment', 'no'], {'admin'})],
    'approve': [(lambda w: [str(w.runs['runner_awaiting_2'].pk)], {'admin'})],
}


def test_every_cli_subcommand_is_in_the_matrix():
    known = OPERATOR_COMMANDS | MIGRATION_COMMANDS | set(CLI_MATRIX)
    assert subcommands() == known, f'subcommands not in CLI_MATRIX (or gone): {sorted(subcommands() ^ known)}'


@pytest.mark.django_db(transaction=True)  # the CLI runs scripts in its own process, outside any transaction
def test_cli_does_what_the_user_may_and_refuses_the_rest(world):
    world.runs['runner_awaiting_2'] = make_run(world.hello, world.users['runner'], status='awaiting_approval',
                                               inputs={'who': 'approve me too'}, marker='awaiting-2',
                                               approval_requested=True)
    inactive = make_user('sec-inactive', is_superuser=True)
    inactive.is_active = False
    inactive.save()
    problems = []
    for command, cells in CLI_MATRIX.items():
        for arguments, allowed in cells:
            # Refusals first: what an allowed user does (approving, rejecting) may change what the next one meets.
            users = [('nobody-by-that-name', False), ('sec-inactive', False)] + [
                (world.users[role].username, role in allowed) for role in ('viewer', 'runner', 'editor', 'admin')
            ]
            for username, may in sorted(users, key=lambda u: u[1]):
                args = [command, *arguments(world), '--user', username]
                before = snapshot()
                status, out, err = cli(*args)
                label = f'custom_scripts {" ".join(args)}'
                if may:
                    if status == EXIT_REFUSED or snapshot() == before:
                        problems.append(f'{label}: refused or did nothing ({status}): {err.strip()[-300:]}')
                elif status != EXIT_REFUSED:
                    problems.append(f'{label}: expected exit status {EXIT_REFUSED}, got {status}: {err.strip()[-300:]}')
                elif snapshot() != before:
                    problems.append(f'{label}: refused, but changed something')
    assert not problems, '\n'.join(problems)
