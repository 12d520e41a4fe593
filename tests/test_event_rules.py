"""
The event-rule action: an EventRule of type "netbox_custom_scripts.run_script" runs its script (through a real
worker) when a matching object changes, with the event type, the object and its before/after snapshots in
`self.event`, and inputs from the rule's action data (the triggering object fed to `object_variable`).

A rule is authorised by its owner - the user who last saved it through the UI or the API - and never by whoever
triggers it: saving a rule that targets a script needs `run` on it (and the right to commit, where the rule
commits), and each run is made as the owner, whose rights are checked again when the rule fires. A run the owner
may no longer make is recorded as refused. The run record names both who authorised it and what triggered it.
Bad action data is refused when the rule is saved; chains of runs triggering runs stop at a fixed depth.
"""
import json
import os
import time

import pytest
from core.models import Job, ObjectType
from dcim.models import Site
from django.core.exceptions import ValidationError
from django.test import Client
from extras.models import EventRule
from rest_framework.test import APIClient
from users.models import ObjectPermission

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.event_rules import MAX_EVENT_DEPTH, rule_owner
from netbox_custom_scripts.execution import save_source, sync_directory
from netbox_custom_scripts.models import EventRuleOwner, Script, ScriptRun

from .utils import REPO, make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)

ACTION = 'netbox_custom_scripts.run_script'
RULES_API = '/api/extras/event-rules/'


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


def make_rule(script, action_data, owner=None):
    """A rule saved outside a request (as in nbshell); `owner` as if they had saved it through the UI or the API."""
    rule = EventRule(
        name='on site update', event_types=['object_updated'], action_type=ACTION, action_object=script,
        action_data=action_data,
    )
    rule.full_clean()
    rule.save()
    rule.object_types.add(ObjectType.objects.get_for_model(Site))
    if owner is not None:
        EventRuleOwner.objects.update_or_create(event_rule=rule, defaults={'user': owner})
    return rule


def rule_body(script, **fields):
    return {
        'name': 'api rule', 'object_types': ['dcim.site'], 'event_types': ['object_created', 'object_updated'],
        'action_type': ACTION, 'action_object_type': 'netbox_custom_scripts.script', 'action_object_id': script.pk,
        **fields,
    }


def change_site(user, site, description):
    response = api(user).patch(f'/api/dcim/sites/{site.pk}/', {'description': description}, format='json')
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def script():
    sync_directory()
    return Script.objects.get(class_name='OnSiteChange')


@pytest.fixture
def rule_editor():
    """May manage event rules and sites, and see the plugin's scripts without running any: the attacker here."""
    return make_user('rule-editor', (EventRule, ['view', 'add', 'change']), (Site, ['view', 'add', 'change']),
                     (Script, ['view']))


def test_rule_runs_as_its_owner_and_records_who_triggered_it(rq_worker, wait, script):
    owner = make_user('owner', (Script, ['view', 'run']), (Site, ['view', 'change']))
    make_rule(script, {'object_variable': 'site', 'note': 'from rule', 'commit': True}, owner=owner)
    editor = make_user('editor', (Site, ['view', 'change']))  # no permission on scripts: the rule's owner answers
    site = Site.objects.create(name='Site A', slug='site-a', description='before')
    response = change_site(editor, site, 'after')

    first = wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.COMPLETED).order_by('pk').first(),
                 message='the event-rule run')
    assert first.source == RunSourceChoices.EVENT and first.user == owner and first.commit
    assert first.event['username'] == 'editor'  # what triggered it, and with which request
    assert first.event['request_id'] and first.event['request_id'] != str(first.request_id)
    assert response.status_code == 200
    assert first.event['event_type'] == 'object_updated'
    assert first.event['object_type'] == 'dcim.site' and first.event['object_id'] == site.pk
    assert first.event['snapshots']['prechange']['description'] == 'before'
    assert first.inputs == {'site': site.pk, 'note': 'from rule'}
    messages = [line.message for line in first.log_entries]
    assert f'event object_updated on dcim.site #{site.pk}' in messages
    assert "description 'before' -> 'after'; site input Site A; note from rule" in messages
    site.refresh_from_db()
    assert site.comments == 'touched 1'

    # The run page names both.
    admin = make_user('admin', is_superuser=True)
    client = Client()
    client.force_login(admin)
    page = client.get(first.get_absolute_url()).content.decode()
    assert 'id="run-authorised-by"' in page and 'owner' in page.split('id="run-authorised-by"')[1][:300]
    triggered = page.split('id="run-triggered-by"')[1][:600]
    assert 'editor' in triggered and first.event['request_id'] in triggered


def test_saving_a_rule_needs_run_on_its_script(script, rule_editor):
    client = api(rule_editor)
    response = client.post(RULES_API, rule_body(script), format='json')
    assert response.status_code == 400, response.content
    assert 'run' in str(response.json()) and not EventRule.objects.exists()

    # The same through the web form.
    web = Client()
    web.force_login(rule_editor)
    response = web.post('/extras/event-rules/add/', {
        'name': 'ui rule', 'object_types': [ObjectType.objects.get_for_model(Site).pk],
        'event_types': ['object_updated'], 'action_type': ACTION, 'action_choice': script.pk,
        'action_data': '{"commit": true}', 'enabled': 'on',
    })
    assert response.status_code == 200 and not EventRule.objects.exists()
    # Shown on the page, not only attached to the form (the script's own field is hidden).
    assert 'cannot save a rule that runs this script' in response.content.decode(), response.context['form'].errors


def test_pointing_an_existing_rule_at_a_script_needs_run_on_it(script, rule_editor):
    hello = Script.objects.get(class_name='Hello')
    rule_editor_may_run_hello = ObjectPermission.objects.create(name='hello', actions=['view', 'run'],
                                                                constraints={'pk': hello.pk})
    rule_editor_may_run_hello.object_types.add(ObjectType.objects.get_for_model(Script))
    rule_editor_may_run_hello.users.add(rule_editor)
    client = api(rule_editor)
    created = client.post(RULES_API, rule_body(hello), format='json')
    assert created.status_code == 201, created.content
    rule = EventRule.objects.get()
    assert rule_owner(rule) == rule_editor

    # PATCH action_object_id to a script they may not run: refused, nothing changes.
    response = client.patch(f'{RULES_API}{rule.pk}/', {'action_object_id': script.pk}, format='json')
    assert response.status_code == 400, response.content
    rule.refresh_from_db()
    assert rule.action_object_id == hello.pk

    # Any save of an admin's rule makes the saver its owner: one that runs a script they may not run is refused.
    admin = make_user('admin', is_superuser=True)
    admins = api(admin).post(RULES_API, rule_body(script, name='admin rule'), format='json')
    assert admins.status_code == 201, admins.content
    admin_rule = EventRule.objects.get(name='admin rule')
    assert rule_owner(admin_rule) == admin
    response = client.patch(f'{RULES_API}{admin_rule.pk}/', {'description': 'mine now'}, format='json')
    assert response.status_code == 400
    assert rule_owner(admin_rule) == admin


def ui_rule(user, script, action_data):
    """Save a rule through NetBox's event-rule form; returns the response (302 when it was saved)."""
    web = Client()
    web.force_login(user)
    return web.post('/extras/event-rules/add/', {
        'name': f'ui rule {EventRule.objects.count()}', 'object_types': [ObjectType.objects.get_for_model(Site).pk],
        'event_types': ['object_updated'], 'action_type': ACTION, 'action_choice': script.pk,
        'action_data': json.dumps(action_data), 'enabled': 'on',
    })


def test_a_committing_rule_needs_the_right_to_commit(settings):
    governance = os.path.join(REPO, 'tests', 'fixtures', 'governance', 'governance.py')
    with open(governance, encoding='utf-8') as f:
        module = save_source('governance', f.read(), source='upload', file_path='custom_scripts/governance.py',
                             reject_invalid=True)
    gated = module.scripts.get(class_name='CommitGated')  # Meta.commit_requires_permission = True
    approval = module.scripts.get(class_name='NeedsApproval')  # Meta.approval_required = True
    runner = make_user('runner', (EventRule, ['view', 'add', 'change']), (Script, ['view', 'run']))
    committer = make_user('committer', (EventRule, ['view', 'add', 'change']), (Script, ['view', 'run', 'commit']))

    refused = ui_rule(runner, gated, {'commit': True, 'site_name': 'x'})
    assert refused.status_code == 200 and 'may not commit' in refused.content.decode(), refused.context['form'].errors
    # Commit left out: the script's commit_default (True) decides, and is refused the same way.
    assert ui_rule(runner, gated, {'site_name': 'x'}).status_code == 200
    assert not EventRule.objects.exists()
    assert ui_rule(runner, gated, {'commit': False, 'site_name': 'x'}).status_code == 302  # a dry run is fine
    assert ui_rule(committer, gated, {'commit': True, 'site_name': 'x'}).status_code == 302
    # Committed runs that need approval cannot come from a rule, whoever saves it.
    admin = make_user('admin', is_superuser=True)
    response = ui_rule(admin, approval, {'commit': True, 'site_name': 'x'})
    assert response.status_code == 200 and 'need approval' in str(response.context['form'].errors)
    assert EventRule.objects.count() == 2
    assert {rule_owner(rule) for rule in EventRule.objects.all()} == {runner, committer}


def test_a_rule_whose_owner_lost_the_right_is_refused_and_recorded(rq_worker, wait, script):
    owner = make_user('owner', (Script, ['view', 'run']), (Site, ['view', 'change']))
    rule = make_rule(script, {'object_variable': 'site', 'note': 'x', 'commit': True}, owner=owner)
    ObjectPermission.objects.filter(users=owner, object_types=ObjectType.objects.get_for_model(Script)).delete()
    site = Site.objects.create(name='Site C', slug='site-c')
    change_site(make_user('admin', is_superuser=True), site, 'go')

    refused = wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.REFUSED).first(),
                   message='the refused run')
    assert refused.user == owner and refused.source == RunSourceChoices.EVENT and refused.job is None
    assert 'may not run' in refused.error and refused.event['rule'] == rule.pk
    assert refused.event['username'] == 'admin'
    time.sleep(2)
    assert not ScriptRun.objects.exclude(status=RunStatusChoices.REFUSED).exists()
    site.refresh_from_db()
    assert site.comments == ''  # nothing ran
    assert not Job.objects.filter(name__startswith='Run ').exists()


def test_a_rule_without_an_owner_is_refused(rq_worker, wait, script):
    make_rule(script, {'object_variable': 'site', 'note': 'x', 'commit': True})  # saved outside a request
    site = Site.objects.create(name='Site D', slug='site-d')
    change_site(make_user('admin', is_superuser=True), site, 'go')
    refused = wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.REFUSED).first(),
                   message='the refused run')
    assert refused.user is None and 'no active owner' in refused.error
    site.refresh_from_db()
    assert site.comments == ''


def test_chains_stop_at_the_depth_limit(rq_worker, wait, script):
    admin = make_user('admin', is_superuser=True)
    make_rule(script, {'object_variable': 'site', 'note': 'loop', 'commit': True}, owner=admin)
    site = Site.objects.create(name='Site B', slug='site-b')
    change_site(admin, site, 'go')
    wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.COMPLETED).count() >= MAX_EVENT_DEPTH,
         message='the chain of runs')
    wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.REFUSED).exists(), message='the stopped link')
    time.sleep(3)  # a run past the limit would have been queued by now
    runs = list(ScriptRun.objects.filter(status=RunStatusChoices.COMPLETED).order_by('pk'))
    assert [run.event['depth'] for run in runs] == list(range(1, MAX_EVENT_DEPTH + 1))
    stopped = ScriptRun.objects.get(status=RunStatusChoices.REFUSED)
    assert stopped.event['depth'] == MAX_EVENT_DEPTH + 1 and 'stops after' in stopped.error


@pytest.mark.parametrize('action_data, words', [
    ({'nonsense': 1}, 'Unknown key(s) nonsense'),
    ({'commit': 'yes'}, '"commit" must be true or false'),
    ({'object_variable': 'nope'}, '"object_variable" must name one'),
])
def test_bad_action_data_is_refused(script, action_data, words):
    with pytest.raises(ValidationError) as excinfo:
        make_rule(script, action_data)
    assert words in str(excinfo.value)
    assert not EventRule.objects.exists()
