"""
Who an event rule's script runs are made as: whoever last saved the rule through the UI or the API. Their rights are
checked when the rule is saved and again each time it fires (event_rules.py).
"""
from netbox.context import current_request

from ..models import EventRuleOwner

__all__ = (
    'RUN_SCRIPT_ACTION',
    'record_rule_owner',
    'rule_owner',
    'saving_user',
)

# The event rule action type of the plugin (NetBox's `action_type` of rules that run a custom script).
RUN_SCRIPT_ACTION = 'netbox_custom_scripts.run_script'


def saving_user():
    """The user of the web or API request saving a rule (None outside a request: nbshell, migrations)."""
    request = current_request.get()
    user = getattr(request, 'user', None)
    return user if user is not None and user.is_authenticated else None


def rule_owner(event_rule):
    """The user a rule's runs are made as (who last saved it through the UI or the API), or None."""
    owner = EventRuleOwner.objects.filter(event_rule=event_rule).select_related('user').first()
    return owner.user if owner is not None else None


def record_rule_owner(event_rule):
    """A rule that runs a custom script is owned by whoever saved it last; a save outside a request keeps it."""
    if event_rule.action_type != RUN_SCRIPT_ACTION:
        return
    user = saving_user()
    if user is not None:
        EventRuleOwner.objects.update_or_create(event_rule=event_rule, defaults={'user': user})
    else:
        EventRuleOwner.objects.get_or_create(event_rule=event_rule)
