"""
An event-rule action that runs a custom script (NetBox 4.7's PluginConfig.event_rule_actions): when an object is
created, updated or deleted (or a job ends), the chosen script runs with the triggering object, its before/after
snapshots and the event type in `self.event`, and its inputs from the rule's action data.

A rule is authorised by its owner, the user who last saved it: saving a rule that targets a script needs the `run`
permission on it (and the right to commit, when the action data commits), and each run is made as the owner, with
the owner's rights checked again at that time. A run the owner may no longer make is recorded as refused. Whoever
triggers the rule (any user who may change the object) gains no rights on the script through it.
"""
import logging

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from netbox.event_rules import EventRuleAction

from .choices import RunSourceChoices
from .execution import (
    RUN_SCRIPT_ACTION,
    RunRefused,
    RunRequest,
    check_run_permission,
    check_unattended_commit,
    record_refused_run,
    resolve_commit,
    rule_owner,
    saving_user,
    submit,
)
from .models import Script

__all__ = (
    'RunCustomScriptAction',
    'event_rule_actions',
    'rule_owner',
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
    slug = RUN_SCRIPT_ACTION
    label = _('Custom script (netbox-custom-scripts)')
    description = _('Run a custom script with the triggering object and its snapshots')
    object_model = Script
    object_required = True
    object_label = _('Custom script')

    def validate(self, *, action_object, action_data):
        if action_data is not None and not isinstance(action_data, dict):
            raise ValidationError({'action_data': _('Action data must be a JSON object of input values.')})
        action_data = action_data or {}
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
        user = saving_user()
        if user is not None:
            # The user saving the rule becomes its owner: they must hold the rights its runs will use.
            try:
                check_run_permission(action_object, user)
                if _commits(action_object, action_data):
                    check_unattended_commit(action_object, user)
            except PermissionDenied as exc:
                # Not on a field: the event-rule form keeps the script's field hidden, and would not show it.
                raise ValidationError({NON_FIELD_ERRORS: _(
                    'You cannot save a rule that runs this script: {reason} (the rule runs it as the user who '
                    'saves it).'
                ).format(reason=str(exc).rstrip('.'))})

    def resolve_import_object(self, value):
        return Script.objects.get_by_reference(value)

    def enqueue(self, *, event_rule, event_context, action_object, action_data):
        request = event_context.get('request')
        depth = event_depth(request)
        config = event_rule.action_data if isinstance(event_rule.action_data, dict) else {}
        data = {key: value for key, value in config.items() if key not in (COMMIT_KEY, OBJECT_VARIABLE_KEY)}
        object_type = event_context.get('object_type')
        object_id = event_context.get('object_id')
        if config.get(OBJECT_VARIABLE_KEY) and object_id is not None:
            data[config[OBJECT_VARIABLE_KEY]] = object_id
        trigger_user = event_context.get('user')
        event = {
            'rule': event_rule.pk,
            'rule_name': event_rule.name,
            'event_type': event_context.get('event_type'),
            'object_type': f'{object_type.app_label}.{object_type.model}' if object_type else None,
            'object_id': object_id,
            'snapshots': event_context.get('snapshots'),
            # Who triggered it, and with which request (the change log entry of the triggering change).
            'username': getattr(trigger_user, 'username', None),
            'request_id': str(request.id) if getattr(request, 'id', None) else None,
            'depth': depth + 1,
        }
        owner = rule_owner(event_rule)
        if depth >= MAX_EVENT_DEPTH:
            logger.warning('Event rule %s: not running %s, event chain depth %s reached', event_rule,
                           action_object.full_name, depth)
            record_refused_run(
                action_object, user=owner, source=RunSourceChoices.EVENT, event=event, inputs=data,
                reason=_('Not run: a chain of runs triggered by event rules stops after {depth} levels.').format(
                    depth=MAX_EVENT_DEPTH
                ),
            )
            return
        if owner is None or not owner.is_active:
            record_refused_run(
                action_object, user=owner, source=RunSourceChoices.EVENT, event=event, inputs=data,
                reason=_('Event rule "{rule}" has no active owner: someone who may run {script} must save the rule '
                         'again.').format(rule=event_rule.name, script=action_object.full_name),
            )
            return
        try:
            run = submit(RunRequest(
                script=action_object, user=owner, data=data, commit=config.get(COMMIT_KEY),
                source=RunSourceChoices.EVENT, event=event,
            ))
        except (ValidationError, PermissionDenied, RunRefused) as exc:
            # A rule's own misconfiguration must not break the change that triggered it, nor other rules.
            reason = '; '.join(getattr(exc, 'messages', None) or [str(exc)])
            logger.warning('Event rule %s could not run %s: %s', event_rule, action_object.full_name, reason)
            record_refused_run(action_object, user=owner, source=RunSourceChoices.EVENT, event=event, inputs=data,
                               reason=reason)
            return
        logger.info('Event rule %s queued run %s of %s', event_rule, run.pk, action_object.full_name)


def _commits(script, action_data):
    return resolve_commit(action_data.get(COMMIT_KEY), script.meta.get('commit_default', True))


event_rule_actions = (RunCustomScriptAction,)
