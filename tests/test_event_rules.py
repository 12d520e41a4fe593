"""
The event-rule action: an EventRule of type "netbox_custom_scripts.run_script" runs its script (through a real
worker) when a matching object changes, with the event type, the object and its before/after snapshots in
`self.event`, inputs from the rule's action data (the triggering object fed to `object_variable`), attributed to
the user who made the change. Bad action data is refused when the rule is saved; chains of runs triggering runs
stop at a fixed depth.
"""
import time

import pytest
from core.models import ObjectType
from dcim.models import Site
from django.core.exceptions import ValidationError
from extras.models import EventRule
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.event_rules import MAX_EVENT_DEPTH
from netbox_custom_scripts.execution.modules import sync_directory
from netbox_custom_scripts.models import Script, ScriptRun

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db(transaction=True)


def make_rule(script, action_data):
    rule = EventRule(
        name='on site update', event_types=['object_updated'], action_type='netbox_custom_scripts.run_script',
        action_object=script, action_data=action_data,
    )
    rule.full_clean()
    rule.save()
    rule.object_types.add(ObjectType.objects.get_for_model(Site))
    return rule


@pytest.fixture
def script():
    sync_directory()
    return Script.objects.get(class_name='OnSiteChange')


def test_rule_runs_the_script_with_the_event(rq_worker, wait, script):
    make_rule(script, {'object_variable': 'site', 'note': 'from rule', 'commit': True})
    editor = make_user('editor', (Site, ['view', 'change']))  # no permission on scripts: the rule authorises
    site = Site.objects.create(name='Site A', slug='site-a', description='before')
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(editor))
    assert client.patch(f'/api/dcim/sites/{site.pk}/', {'description': 'after'}, format='json').status_code == 200

    first = wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.COMPLETED).order_by('pk').first(),
                 message='the event-rule run')
    assert first.source == RunSourceChoices.EVENT and first.user == editor and first.commit
    assert first.event['event_type'] == 'object_updated'
    assert first.event['object_type'] == 'dcim.site' and first.event['object_id'] == site.pk
    assert first.event['snapshots']['prechange']['description'] == 'before'
    assert first.inputs == {'site': site.pk, 'note': 'from rule'}
    messages = list(first.log_entries.values_list('message', flat=True))
    assert f'event object_updated on dcim.site #{site.pk}' in messages
    assert "description 'before' -> 'after'; site input Site A; note from rule" in messages
    site.refresh_from_db()
    assert site.comments == 'touched 1'


def test_chains_stop_at_the_depth_limit(rq_worker, wait, script):
    make_rule(script, {'object_variable': 'site', 'note': 'loop', 'commit': True})
    admin = make_user('admin', is_superuser=True)
    site = Site.objects.create(name='Site B', slug='site-b')
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(admin))
    client.patch(f'/api/dcim/sites/{site.pk}/', {'description': 'go'}, format='json')
    wait(lambda: ScriptRun.objects.filter(status=RunStatusChoices.COMPLETED).count() >= MAX_EVENT_DEPTH,
         message='the chain of runs')
    time.sleep(3)  # a run past the limit would have been queued by now
    runs = list(ScriptRun.objects.order_by('pk'))
    assert [run.event['depth'] for run in runs] == list(range(1, MAX_EVENT_DEPTH + 1))


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
