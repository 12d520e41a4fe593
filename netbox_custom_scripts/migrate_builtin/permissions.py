"""
Permissions: an ObjectPermission on built-in scripts gets, for each module it covers, an equivalent permission on
that module's plugin scripts, for the same users and groups.

Never wider: each copy is pinned to one module (`module__name`), so a permission on "all built-in scripts" does not
become one on scripts the plugin had before. Constraints are translated only where the plugin has a field holding the
same value - a built-in script's `name` is the plugin script's `class_name`, a built-in module (by ID or file path)
is a plugin module name - and only when every OR-ed alternative translates; anything else is reported, and the
permission is not copied at all. Actions: `view` and `run` (the ones built-in scripts use) map to the same actions.
"""
import re
from dataclasses import dataclass

from core.models import ObjectType
from django.db.models import Q
from django.utils.translation import gettext as _
from users.models import ObjectPermission

from ..models import Script
from .plan import PlanItem

__all__ = (
    'PermissionCopy', 'copy_permission', 'marker', 'module_copies', 'plan_permissions', 'unmovable_permission_items',
)

MAPPED_ACTIONS = ('view', 'run')
# Fields of a built-in Script a constraint may use, each with an exact counterpart on plugin scripts.
TRANSLATED_FIELDS = ('name', 'module', 'module_id', 'module__id', 'module__pk', 'module__file_path', 'id', 'pk')


def _builtin_types():
    from extras.models import Script as BuiltinScript

    return ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False)


def marker(permission_id, module_name):
    """How a copy names its original: in its description, which verify and a second apply look for."""
    return f'Moved from built-in scripts: permission #{permission_id}, module {module_name}'[:200]


class Untranslatable(Exception):
    pass


@dataclass
class Alternative:
    """One OR-ed constraint, as sets of allowed values (None: not restricted)."""
    modules: set | None = None
    classes: set | None = None
    pairs: set | None = None  # {(module name, class name)}

    @staticmethod
    def narrowed(current, values):
        values = set(values)
        return values if current is None else current & values


def _literal(value):
    if isinstance(value, str) and '$' in value:
        raise Untranslatable(_('a value with a token ({value!r})').format(value=value))
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise Untranslatable(_('a value of type {type}').format(type=type(value).__name__))
    return value


def _values(key, value, plural):
    if plural:
        if not isinstance(value, list):
            raise Untranslatable(_('{key} without a list').format(key=key))
        return [_literal(v) for v in value]
    return [_literal(value)]


def _translate_alternative(constraint, builtin_names):
    """A built-in constraint dict -> Alternative. `builtin_names`: {built-in module pk: module name}."""
    from extras.models import Script as BuiltinScript
    from extras.models import ScriptModule as BuiltinModule

    if not isinstance(constraint, dict):
        raise Untranslatable(_('a constraint that is not an object'))
    alt = Alternative()
    for key, value in constraint.items():
        plural = key.endswith('__in')
        base = key.removesuffix('__in').removesuffix('__exact')
        if base not in TRANSLATED_FIELDS:
            raise Untranslatable(_('the field {key!r}, which plugin scripts have no exact counterpart for').format(
                key=key))
        values = _values(key, value, plural)
        if base == 'name':
            if any(not isinstance(v, str) or '.' in v for v in values):
                raise Untranslatable(_('{key}: a script inside a package submodule').format(key=key))
            alt.classes = Alternative.narrowed(alt.classes, values)
        elif base in ('module', 'module_id', 'module__id', 'module__pk'):
            ids = {int(v) for v in values if str(v).isdigit()}
            alt.modules = Alternative.narrowed(alt.modules, {builtin_names[i] for i in ids if i in builtin_names})
        elif base == 'module__file_path':
            names = {m.python_name for m in BuiltinModule.objects.filter(file_path__in=[str(v) for v in values])}
            alt.modules = Alternative.narrowed(alt.modules, names)
        else:  # id, pk
            ids = {int(v) for v in values if str(v).isdigit()}
            pairs = {
                (builtin_names.get(module_id), name)
                for module_id, name in BuiltinScript.objects.filter(pk__in=ids).values_list('module_id', 'name')
            }
            alt.pairs = Alternative.narrowed(alt.pairs, pairs)
    return alt


def translate(permission, builtin_names):
    """The permission's constraints as Alternatives; raises Untranslatable naming the part that is not exact."""
    constraints = permission.constraints
    if constraints in (None, {}, []):
        return [Alternative()]
    if isinstance(constraints, dict):
        constraints = [constraints]
    if not isinstance(constraints, list):
        raise Untranslatable(_('constraints that are neither an object nor a list'))
    return [_translate_alternative(constraint, builtin_names) for constraint in constraints]


def constraints_for_module(alternatives, module_name, module_classes):
    """
    The plugin constraints (a list of OR-ed dicts) equal to `alternatives` on module `module_name`, whose built-in
    scripts are `module_classes`; None when they match none of them.
    """
    result = []
    for alt in alternatives:
        if alt.modules is not None and module_name not in alt.modules:
            continue
        if not module_classes or (alt.classes is not None and not alt.classes & module_classes):
            continue
        classes = alt.classes
        if alt.pairs is not None:
            classes = Alternative.narrowed(classes, {c for m, c in alt.pairs if m == module_name})
        if classes is not None and not classes:
            continue
        constraint = {'module__name': module_name}
        if classes is not None:
            constraint['class_name__in'] = sorted(classes)
        if constraint not in result:
            result.append(constraint)
    if any(set(constraint) == {'module__name'} for constraint in result):
        return [{'module__name': module_name}]
    return result or None


@dataclass
class PermissionCopy:
    original: ObjectPermission
    module: str
    actions: list
    constraints: list

    @property
    def name(self):
        suffix = f' ({self.module})'
        return self.original.name[:100 - len(suffix)] + suffix


def script_permissions():
    return ObjectPermission.objects.filter(object_types=_builtin_types()).prefetch_related('users', 'groups').order_by(
        'pk').distinct()


def _label(permission):
    return _("permission '{name}'").format(name=permission.name)


def _unmovable(permission, builtin_names):
    """Why a permission on built-in scripts is not copied at all, or ''."""
    if not set(permission.actions) & set(MAPPED_ACTIONS):
        return _('It grants none of the actions built-in scripts use ({actions}): nothing to copy.').format(
            actions=', '.join(MAPPED_ACTIONS))
    try:
        translate(permission, builtin_names)
    except Untranslatable as exc:
        return _('Its constraints cannot be translated exactly ({part}); it is not copied, so that no one gains '
                 'access. Grant the equivalent on plugin scripts by hand.').format(part=exc)
    return ''


def _builtin_names():
    from extras.models import ScriptModule as BuiltinModule

    return {module.pk: module.python_name for module in BuiltinModule.objects.all()}


def plan_permissions(plans):
    builtin_names = _builtin_names()
    expected = {plan.name: set() for plan in plans}
    for permission in script_permissions():
        if _unmovable(permission, builtin_names):
            continue
        alternatives = translate(permission, builtin_names)
        actions = [action for action in MAPPED_ACTIONS if action in permission.actions]
        dropped = sorted(set(permission.actions) - set(MAPPED_ACTIONS))
        for plan in plans:
            module_classes = set(plan.builtin.scripts.values_list('name', flat=True))
            constraints = constraints_for_module(alternatives, plan.name, module_classes)
            if constraints is None:
                continue
            copy = PermissionCopy(permission, plan.name, actions, constraints)
            expected[plan.name].add(marker(permission.pk, plan.name))
            existing = ObjectPermission.objects.filter(description=marker(permission.pk, plan.name)).first()
            differences = _differences(existing, copy) if existing else []
            note = _('Constraints: {constraints}.').format(constraints=constraints)
            if dropped:
                note += ' ' + _('Not copied: {actions} (no use on scripts).').format(actions=', '.join(dropped))
            if differences:
                note = _('The copy differs from its original ({what}): it is brought back in line.').format(
                    what=', '.join(differences)) + ' ' + note
            action = 'copy' if existing is None else 'update' if differences else 'already_done'
            plan.add('permission', _label(permission), permission.pk, action,
                     _("permission '{name}' on plugin scripts ({actions})").format(
                         name=copy.name, actions=', '.join(actions)), note)
            if action != 'already_done' and plan.movable:
                plan.permissions.append(copy)
    # Copies whose original was deleted, or no longer covers the module's scripts: they would grant what the
    # built-in side no longer does.
    for plan in plans:
        for stale in module_copies(plan.name).exclude(description__in=expected[plan.name]):
            plan.add('permission', _("copy '{name}'").format(name=stale.name), stale.pk, 'remove', '',
                     _('Its built-in original no longer grants it (deleted, narrowed or untranslatable now).'))
            if plan.movable:
                plan.stale_permissions.append(stale)


def module_copies(module_name):
    """The permission copies apply made for one module (found by their description marker)."""
    return ObjectPermission.objects.filter(
        description__regex=r'^Moved from built-in scripts: permission #[0-9]+, module ' + re.escape(module_name) + '$'
    )


def _differences(existing, copy):
    """What of `existing` (a copy made earlier) no longer matches its original; [] when it matches."""
    original = copy.original
    wanted = copy.constraints if len(copy.constraints) > 1 else copy.constraints[0]
    checks = (
        (_('enabled'), existing.enabled == original.enabled),
        (_('actions'), sorted(existing.actions) == sorted(copy.actions)),
        (_('constraints'), existing.constraints == wanted),
        (_('users'), set(existing.users.values_list('pk', flat=True))
         == set(original.users.values_list('pk', flat=True))),
        (_('groups'), set(existing.groups.values_list('pk', flat=True))
         == set(original.groups.values_list('pk', flat=True))),
        (_('object types'), list(existing.object_types.values_list('pk', flat=True))
         == [ObjectType.objects.get_for_model(Script).pk]),
    )
    return [label for label, same in checks if not same]


def unmovable_permission_items():
    """Items for the permissions no module can take: reported whatever the scope, never copied."""
    builtin_names = _builtin_names()
    items = []
    for permission in script_permissions():
        reason = _unmovable(permission, builtin_names)
        if reason:
            items.append(PlanItem('permission', _label(permission), permission.pk, None, 'cannot_move', '', reason))
    return items


def copy_permission(copy):
    """Create the plugin permission, or bring an earlier copy back in line (the caller holds the transaction)."""
    original = copy.original
    permission = ObjectPermission.objects.filter(description=marker(original.pk, copy.module)).first()
    permission = permission or ObjectPermission(description=marker(original.pk, copy.module))
    permission.name = copy.name
    permission.enabled = original.enabled
    permission.actions = copy.actions
    permission.constraints = copy.constraints if len(copy.constraints) > 1 else copy.constraints[0]
    permission.save()
    permission.object_types.set([ObjectType.objects.get_for_model(Script)])
    permission.users.set(original.users.all())
    permission.groups.set(original.groups.all())
    return permission


def copies_of(permission):
    return ObjectPermission.objects.filter(
        Q(description__startswith=f'Moved from built-in scripts: permission #{permission.pk}, module ')
    )
