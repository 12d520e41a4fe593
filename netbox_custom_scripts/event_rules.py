"""
An event-rule action that runs a custom script (NetBox 4.7's PluginConfig.event_rule_actions): when an object is
created, updated or deleted (or a job ends), the chosen script runs with the triggering object, its before/after
snapshots and the event type in `self.event`, and its inputs from the rule's action data.
"""
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from netbox.event_rules import EventRuleAction

from .choices import RunSourceChoices
from .execution.dispatch import submit_run
from .execution.errors import RunRefused
from .models import Script

__all__ = (
    'RunCustomScriptAction',
    'event_rule_actions',
)

logger = logging.getLogger('netbox_custom_scripts.event_rules')

# Action data keys that configure the run rather than give a script input.
COMMIT_KEY = 'commit'
OBJECT_VARIABLE_KEY = 'object_variable'

# A script run by an event rule may change objects that trigger rules again; stop such chains here.
MAX_EVENT_DEPTH = 3


def event_depth(request):
    return getattr(request, 'custom_script_event_depth', 0) if request is not None else 0


class RunCustomScriptAction(EventRuleAction):
    slug = 'netbox_custom_scripts.run_script'
    label = _('Custom script (netbox-custom-scripts)')
    description = _('Run a custom script with the triggering object and its snapshots')
    object_model = Script
    object_required = True
    object_label = _('Custom script')

    def validate(self, *, action_object, action_data):
        if action_data is None:
            return
        if not isinstance(action_data, dict):
            raise ValidationError({'action_data': _('Action data must be a JSON object of input values.')})
        variables = {variable['name'] for variable in action_object.variables}
        unknown = sorted(set(action_data) - variables - {COMMIT_KEY, OBJECT_VARIABLE_KEY})
        if unknown:
            raise ValidationError({'action_data': _(
                'Unknown key(s) {keys}: use the script\'s variables ({variables}), "commit" and "object_variable".'
            ).format(keys=', '.join(unknown), variables=', '.join(sorted(variables)) or _('none'))})
        if COMMIT_KEY in action_data and not isinstance(action_data[COMMIT_KEY], bool):
            raise ValidationError({'action_data': _('"commit" must be true or false.')})
        if OBJECT_VARIABLE_KEY in action_data and action_data[OBJECT_VARIABLE_KEY] not in variables:
            raise ValidationError({'action_data': _('"object_variable" must name one of the script\'s variables.')})

    def resolve_import_object(self, value):
        module, __, class_name = value.rpartition('.')
        return Script.objects.get(module__name=module, class_name=class_name)

    def enqueue(self, *, event_rule, event_context, action_object, action_data):
        request = event_context.get('request')
        depth = event_depth(request)
        if depth >= MAX_EVENT_DEPTH:
            logger.warning('Event rule %s: not running %s, event chain depth %s reached', event_rule,
                           action_object.full_name, depth)
            return
        config = event_rule.action_data if isinstance(event_rule.action_data, dict) else {}
        data = {key: value for key, value in config.items() if key not in (COMMIT_KEY, OBJECT_VARIABLE_KEY)}
        object_type = event_context.get('object_type')
        object_id = event_context.get('object_id')
        if config.get(OBJECT_VARIABLE_KEY) and object_id is not None:
            data[config[OBJECT_VARIABLE_KEY]] = object_id
        event = {
            'rule': event_rule.pk,
            'event_type': event_context.get('event_type'),
            'object_type': f'{object_type.app_label}.{object_type.model}' if object_type else None,
            'object_id': object_id,
            'snapshots': event_context.get('snapshots'),
            'username': getattr(event_context.get('user'), 'username', None),
            'depth': depth + 1,
        }
        try:
            run = submit_run(
                action_object, user=event_context.get('user'), data=data, commit=config.get(COMMIT_KEY),
                source=RunSourceChoices.EVENT, event=event,
            )
        except (ValidationError, PermissionDenied, RunRefused) as exc:
            # A rule's own misconfiguration must not break the change that triggered it, nor other rules.
            logger.error('Event rule %s could not run %s: %s', event_rule, action_object.full_name,
                         '; '.join(getattr(exc, 'messages', [str(exc)])))
            return
        logger.info('Event rule %s queued run %s of %s', event_rule, run.pk, action_object.full_name)


event_rule_actions = (RunCustomScriptAction,)
