"""
The checks a script definition passes when its module loads (its Meta and its variables), and before a run is
queued (check_run_options(), as NetBox refuses to queue a script whose Meta it cannot use).
"""
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .meta import (
    EXECUTION_PARAMETERS,
    META_OPTIONS,
    NOTIFICATION_CHOICES,
    RUN_MODES,
    STOCK_RUN_NAMES,
    class_attribute,
    fieldsets_shape_ok,
    is_text,
    meta_value,
    script_options,
    script_variables,
)

__all__ = (
    'check_definition',
    'check_run_options',
    'DefinitionCheck',
)



def check_run_options(cls, notifications=None):
    """
    What NetBox checks when a run is queued (its validate_meta): a job_timeout it cannot use and - unless the run
    chose its notifications - an unknown notifications_default refuse the run, with the reason. Raises
    django.core.exceptions.ValidationError keyed by option, as NetBox does.
    """
    options = script_options(cls)
    errors = {}
    if not options.job_timeout_valid:
        errors['job_timeout'] = _(
            "Invalid Meta.job_timeout {value!r}: must be a positive number of seconds or a duration such as '1h' "
            "or '30m'."
        ).format(value=options.job_timeout)
    if notifications is None and options.notifications_default not in NOTIFICATION_CHOICES:
        errors['notifications_default'] = _('Invalid Meta.notifications_default {value!r}: must be one of {choices}.'
                                            ).format(value=options.notifications_default,
                                                     choices=', '.join(NOTIFICATION_CHOICES))
    if errors:
        raise ValidationError(errors)


@dataclass
class DefinitionCheck:
    """What check_definition() found in a Script class."""
    # The plugin's own Meta options set wrongly: the module does not load.
    errors: list = field(default_factory=list)
    # Names NetBox itself could not run the script with: the class is left out of its module, saying why.
    unusable: list = field(default_factory=list)
    # What NetBox tolerates (and the plugin now does too): recorded on the script and shown.
    warnings: list = field(default_factory=list)


def check_definition(cls):
    """Check a Script class's Meta options and variables (at module load); see DefinitionCheck."""
    check = DefinitionCheck()
    variables = script_variables(cls, ordered=False)
    options = script_options(cls)
    _check_stock_options(cls, variables, options, check.warnings)
    check.errors.extend(_check_plugin_options(cls, variables, options))
    for name in variables:
        if name in EXECUTION_PARAMETERS:
            check.unusable.append(_('variable {name!r} is named like a field of the run form; rename it').format(
                name=name))
        elif name in STOCK_RUN_NAMES:
            check.unusable.append(_(
                'variable {name!r} replaces Script.{name}, which running the script needs (on NetBox too); rename it'
            ).format(name=name))
    for name, var in variables.items():
        for ref in getattr(var, 'referenced_variables', ()):
            if ref not in variables:
                check.warnings.append(_(
                    '{name}: query_params refers to ${ref}, which is not a variable: that filter is left out'
                ).format(name=name, ref=ref))
    return check


def _check_stock_options(cls, variables, options, warnings):
    meta = class_attribute(cls, 'Meta')
    unknown = sorted(key for key in vars(meta) if not key.startswith('_') and key not in META_OPTIONS) if meta else []
    if unknown:
        warnings.append(_('unknown Meta option(s) ignored, as NetBox ignores them: {names} (known: {known})').format(
            names=', '.join(unknown), known=', '.join(META_OPTIONS)
        ))
    for option, shown in (('name', options.name), ('description', options.description)):
        value = meta_value(cls, option)
        if value is not None and not is_text(value):
            warnings.append(_('Meta.{option} should be a string (found {value!r}): {shown!r} is shown').format(
                option=option, value=value, shown=shown
            ))
    for option, effective in (('commit_default', options.commit_default),
                              ('scheduling_enabled', options.scheduling_enabled)):
        if not isinstance(value := meta_value(cls, option), bool):
            warnings.append(_(
                'Meta.{option} should be True or False (found {value!r}); like NetBox, the plugin takes it as '
                '{effective}'
            ).format(option=option, value=value, effective=effective))
    if not options.job_timeout_valid:
        warnings.append(_(
            "Meta.job_timeout {value!r} is not a positive number of seconds or a duration such as '30m': runs are "
            'refused until it is fixed, as on NetBox'
        ).format(value=options.job_timeout))
    if options.notifications_default not in NOTIFICATION_CHOICES:
        warnings.append(_(
            'Meta.notifications_default {value!r} is not one of {choices}: runs that do not choose their notifications '
            'are refused, as on NetBox'
        ).format(value=options.notifications_default, choices=', '.join(NOTIFICATION_CHOICES)))
    warnings.extend(_check_name_list('field_order', meta_value(cls, 'field_order'), variables, _('ignored')))
    fieldsets = meta_value(cls, 'fieldsets')
    if fieldsets is not None:
        if not fieldsets_shape_ok(fieldsets):
            warnings.append(_(
                'Meta.fieldsets should be a sequence of (title, (variable, ...)) pairs: ignored, every variable is '
                'shown in one group'
            ))
        else:
            listed = [name for _title, names in fieldsets for name in names]
            warnings.extend(_check_name_list('fieldsets', listed, variables, _('left out')))


def _check_name_list(option, names, variables, consequence):
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        return [_('Meta.{option} should be a list or tuple of variable names (found {value!r}): ignored').format(
            option=option, value=names
        )]
    problems = [
        _('Meta.{option} names {name!r}, which is not a variable: {consequence}').format(
            option=option, name=name, consequence=consequence
        )
        for name in dict.fromkeys(names) if not isinstance(name, str) or name not in variables
    ]
    duplicates = sorted({name for name in names if isinstance(name, str) and names.count(name) > 1})
    if duplicates:
        problems.append(_('Meta.{option} lists {names} more than once: the first counts').format(
            option=option, names=', '.join(repr(name) for name in duplicates)
        ))
    return problems


def _check_plugin_options(cls, variables, options):
    errors = []
    for option in ('hidden', 'singleton', 'approval_required'):
        if not isinstance(value := meta_value(cls, option), bool):
            errors.append(_('Meta.{option} must be True or False (found {value!r})').format(
                option=option, value=value
            ))
    queue = meta_value(cls, 'queue')
    if queue is not None and (not isinstance(queue, str) or queue not in settings.RQ_QUEUES):
        errors.append(_('Meta.queue {value!r} is not an RQ queue of this NetBox (known: {queues})').format(
            value=queue, queues=', '.join(sorted(settings.RQ_QUEUES))
        ))
    if (value := meta_value(cls, 'commit_requires_permission')) is not None and not isinstance(value, bool):
        errors.append(_('Meta.commit_requires_permission must be True, False or None (found {value!r})').format(
            value=value
        ))
    if (mode := meta_value(cls, 'run_mode')) not in RUN_MODES:
        errors.append(_('Meta.run_mode must be one of {choices} (found {value!r})').format(
            choices=', '.join(RUN_MODES), value=mode
        ))
    queues = meta_value(cls, 'allowed_queues')
    if isinstance(queues, str) or not isinstance(queues, (list, tuple)):
        errors.append(_('Meta.allowed_queues must be a list of RQ queue names'))
    elif unknown := [queue for queue in queues if queue not in settings.RQ_QUEUES]:
        errors.append(_('Meta.allowed_queues names {names}, not RQ queues of this NetBox (known: {queues})').format(
            names=', '.join(map(repr, unknown)), queues=', '.join(sorted(settings.RQ_QUEUES))
        ))
    if (limit := meta_value(cls, 'max_runtime')) is not None:
        if isinstance(limit, bool) or options.max_runtime_seconds is None:
            errors.append(_(
                "Meta.max_runtime must be a positive number of seconds or a duration such as '30m' "
                '(found {value!r})'
            ).format(value=limit))
        elif (timeout := options.job_timeout_seconds) and timeout > options.max_runtime_seconds:
            errors.append(_('Meta.job_timeout ({timeout} s) exceeds Meta.max_runtime ({limit} s)').format(
                timeout=timeout, limit=options.max_runtime_seconds
            ))
    if (rate_limit := meta_value(cls, 'rate_limit')) is not None and options.rate_limit is None:
        errors.append(_(
            "Meta.rate_limit must look like '10/hour' (a positive count per second, minute, hour or day; "
            'found {value!r})'
        ).format(value=rate_limit))
    sensitive = meta_value(cls, 'sensitive_variables')
    if isinstance(sensitive, str) or not isinstance(sensitive, (list, tuple)):
        errors.append(_('Meta.sensitive_variables must be a list or tuple of variable names'))
    else:
        # Strict: a misspelt name would store a secret.
        errors.extend(
            _('Meta.sensitive_variables names {name!r}, which is not a variable').format(name=name)
            for name in sensitive if not isinstance(name, str) or name not in variables
        )
    errors.extend(_check_object_types(meta_value(cls, 'object_types')))
    return errors


def _check_object_types(object_types):
    if isinstance(object_types, str) or not isinstance(object_types, (list, tuple)) or not all(
        isinstance(label, str) and label.count('.') == 1 for label in object_types
    ):
        return [_('Meta.object_types must be a sequence of "app_label.model" names')]
    errors = []
    for label in object_types:
        try:
            apps.get_model(label)
        except LookupError:
            errors.append(_('Meta.object_types names {label!r}, which is not a model of this NetBox').format(
                label=label
            ))
    return errors
