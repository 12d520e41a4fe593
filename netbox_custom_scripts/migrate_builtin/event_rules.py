"""
Event rules: a rule that runs a built-in script is copied to a rule running the plugin script of the same class,
with the same events, object types, conditions and action data; the original is disabled (kept, so the move can be
undone) and deleted by cleanup.

Copy-and-disable rather than re-pointing in place: the original keeps its ID, change history and configuration for
a rollback (enable it, delete the copy). The copy is named "<name> (custom scripts)" and its comments start with
the marker naming the original.

Stock NetBox runs a rule's script as the user whose change triggered it, always committing; the plugin runs it as
the rule's owner (EventRuleOwner). The copy commits (`"commit": true` in its action data, as stock did) and is
owned by the original's last editor from the change log when they may run (and commit) the plugin script, else by
the user migrating.
"""
import re
from dataclasses import dataclass

from core.models import ObjectChange, ObjectType
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from extras.models import EventRule

from ..event_rules import COMMIT_KEY, RunCustomScriptAction
from ..execution import check_run_permission, check_unattended_commit
from ..models import EventRuleOwner, Script

__all__ = ('RuleCopy', 'copy_rule', 'marker', 'plan_event_rules')

MARKER = 'Moved from built-in scripts: event rule #{id}.'
MARKER_RE = re.compile(r'^Moved from built-in scripts: event rule #(\d+)\.')
NAME_SUFFIX = ' (custom scripts)'


def marker(rule_id):
    return MARKER.format(id=rule_id)


def builtin_rules(builtin_module):
    from extras.models import Script as BuiltinScript

    return EventRule.objects.filter(
        action_object_type=ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False),
        action_object_id__in=builtin_module.scripts.values_list('pk', flat=True),
    ).order_by('pk')


def copy_of(rule):
    return EventRule.objects.filter(
        action_type=RunCustomScriptAction.slug, comments__startswith=marker(rule.pk) + '\n',
    ).first() or EventRule.objects.filter(action_type=RunCustomScriptAction.slug, comments=marker(rule.pk)).first()


def last_editor(rule):
    change = ObjectChange.objects.filter(
        changed_object_type=ObjectType.objects.get_for_model(EventRule), changed_object_id=rule.pk,
        user__isnull=False,
    ).order_by('-time').select_related('user').first()
    return change.user if change is not None else None


def copy_name(rule):
    return rule.name[:100 - len(NAME_SUFFIX)] + NAME_SUFFIX


@dataclass
class RuleCopy:
    original: EventRule
    class_name: str
    existing: EventRule | None = None   # a copy made earlier that no longer matches its original


def _copied_action_data(original):
    action_data = dict(original.action_data or {}) if isinstance(original.action_data, dict) else {}
    action_data.setdefault(COMMIT_KEY, True)  # stock rules always commit
    return action_data


def _copied_fields(original):
    return {
        'description': original.description,
        'event_types': list(original.event_types),
        'conditions': original.conditions,
        'action_data': _copied_action_data(original),
    }


def rule_differences(plan, original, copy, class_name):
    """What of `copy` no longer matches `original` (its configuration and its script); [] when it matches."""
    differences = [name for name, value in _copied_fields(original).items() if getattr(copy, name) != value]
    if set(copy.object_types.values_list('pk', flat=True)) != set(original.object_types.values_list('pk', flat=True)):
        differences.append('object_types')
    script = Script.objects.filter(module__name=plan.name, class_name=class_name).first()
    if script is None or copy.action_object_type_id != ObjectType.objects.get_for_model(Script).pk or \
            copy.action_object_id != script.pk:
        differences.append(_('script'))
    return differences


def plan_event_rules(plan):
    from extras.models import Script as BuiltinScript

    names = dict(BuiltinScript.objects.filter(module=plan.builtin).values_list('pk', 'name'))
    for rule in builtin_rules(plan.builtin):
        class_name = names.get(rule.action_object_id)
        label = _("event rule '{name}'").format(name=rule.name)
        target = _("event rule '{name}' running {script}").format(
            name=copy_name(rule), script=f'{plan.name}.{class_name}')
        existing = copy_of(rule)
        if existing is not None:
            if rule.enabled:
                plan.add('event_rule', label, rule.pk, 'cannot_move', target,
                         _('The original is enabled again: both rules would run.'))
                continue
            differences = rule_differences(plan, rule, existing, class_name)
            if not differences:
                plan.add('event_rule', label, rule.pk, 'already_done', target)
                continue
            # The original stays the reference until cleanup: its copy is brought back in line.
            plan.add('event_rule', label, rule.pk, 'update', target, _(
                'The copy differs from its original ({what}): it is brought back in line.').format(
                what=', '.join(differences)))
            plan.event_rules.append(RuleCopy(rule, class_name, existing))
            continue
        if EventRule.objects.filter(name=copy_name(rule)).exists():
            plan.add('event_rule', label, rule.pk, 'cannot_move', target, _(
                'Another event rule is already named {name!r}: rename it first.').format(name=copy_name(rule)))
            continue
        editor = last_editor(rule)
        owner_note = _(
            'Owner: {editor} (its last editor) if they may run the plugin script after the move, otherwise the user '
            'migrating. The original is disabled until cleanup.'
        ).format(editor=editor.username) if editor else _(
            'Owner: the user migrating (the change log names no editor). The original is disabled until cleanup.')
        plan.add('event_rule', label, rule.pk, 'repoint', target, owner_note)
        plan.event_rules.append(RuleCopy(rule, class_name))


def _may_own(user, script, action_data):
    if user is None or not user.is_active:
        return False
    try:
        check_run_permission(script, user)
        if action_data.get(COMMIT_KEY, True):
            check_unattended_commit(script, user)
    except PermissionDenied:
        return False
    return True


def copy_rule(plan, copy, user):
    """Create the plugin rule and disable the original (in the module's transaction). Returns (rule, owner)."""
    original = copy.original
    script = Script.objects.get(module__name=plan.name, class_name=copy.class_name)
    action_data = _copied_action_data(original)
    RunCustomScriptAction().validate(action_object=script, action_data=action_data)
    if copy.existing is not None:
        return _update_copy(copy.existing, original, script), None
    comments = marker(original.pk) + ('\n' + original.comments if original.comments else '')
    rule = EventRule(
        name=copy_name(original),
        description=original.description,
        event_types=list(original.event_types),
        enabled=original.enabled,
        conditions=original.conditions,
        action_type=RunCustomScriptAction.slug,
        action_object_type=ObjectType.objects.get_for_model(Script),
        action_object_id=script.pk,
        action_data=action_data,
        comments=comments,
        custom_field_data=original.custom_field_data,
    )
    rule.full_clean()
    rule.save()
    rule.object_types.set(original.object_types.all())
    rule.tags.set(original.tags.all())
    editor = last_editor(original)
    owner = editor if _may_own(editor, script, action_data) else user
    EventRuleOwner.objects.update_or_create(event_rule=rule, defaults={'user': owner})
    original.snapshot()
    original.enabled = False
    original.save()
    return rule, owner


def _update_copy(rule, original, script):
    """Bring an earlier copy back in line with its original (its owner and enabled state stay as they are)."""
    rule.snapshot()
    for name, value in _copied_fields(original).items():
        setattr(rule, name, value)
    rule.action_object_type = ObjectType.objects.get_for_model(Script)
    rule.action_object_id = script.pk
    rule.full_clean()
    rule.save()
    rule.object_types.set(original.object_types.all())
    return rule
