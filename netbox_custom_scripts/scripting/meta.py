"""
Meta: the options a script declares (stock NetBox's and the plugin's), how they are read without letting a variable
shadow them (script_options()), and the checks a script definition passes when its module loads.
"""
import inspect
import re
from dataclasses import dataclass

from django.forms.widgets import boolean_check
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from rq.exceptions import TimeoutFormatError
from rq.utils import parse_timeout

from .variables import ScriptVariable
from .vocabulary import NOTIFICATION_CHOICES

__all__ = (
    'CLASS_ATTRIBUTE_OPTIONS',
    'STOCK_RUN_NAMES',
    'class_attribute',
    'fieldsets_shape_ok',
    'is_text',
    'describe_variables',
    'EXECUTION_PARAMETERS',
    'form_fieldsets',
    'LOADED_FROM',
    'loaded_from',
    'META_OPTIONS',
    'meta_value',
    'NOTIFICATION_CHOICES',
    'parse_duration',
    'PLUGIN_META_OPTIONS',
    'RATE_LIMIT_PERIODS',
    'reserved_names',
    'RUN_MODES',
    'script_full_name',
    'script_module_name',
    'script_options',
    'script_variables',
    'ScriptOptions',
    'secret_variable_names',
    'STOCK_META_OPTIONS',
)




# The Meta options NetBox's own Script reads (extras/scripts.py), with its defaults. NetBox tolerates any value in
# them (it fails, if at all, when a run is queued): so does the plugin, recording what it would have refused as a
# warning on the script (the strict_meta setting makes those load errors again).
STOCK_META_OPTIONS = {
    'name': None,
    'description': '',
    'field_order': None,
    'fieldsets': None,
    'commit_default': True,
    'scheduling_enabled': True,
    'job_timeout': None,
    'notifications_default': 'always',
}


# The plugin's own options. Nobody sets them for NetBox, so they are checked strictly: a wrong value is a load error.
PLUGIN_META_OPTIONS = {
    'hidden': False,
    'singleton': False,
    'queue': None,
    'sensitive_variables': (),
    'object_types': (),
    # Run policy (see execution/policy.py)
    'approval_required': False,
    'commit_requires_permission': None,
    'run_mode': 'any',
    'allowed_queues': (),
    'max_runtime': None,
    'rate_limit': None,
}


META_OPTIONS = {**STOCK_META_OPTIONS, **PLUGIN_META_OPTIONS}


RUN_MODES = ('any', 'manual', 'event')


RATE_LIMIT_PERIODS = {'second': 1, 'minute': 60, 'hour': 3600, 'day': 86400}


# Form fields the run form adds next to the script's own variables, in the order it shows them; a variable cannot take
# these names. Each declared run option (execution/request.py) has its field `_<name>` here.
EXECUTION_PARAMETERS = ('_commit', '_queue', '_schedule_at', '_interval', '_cron', '_notifications')


# What NetBox's own Script calls or reads to show, run and record a script: a variable named like one of these
# replaces it, and the script cannot work on NetBox either. Every other name is free, as on NetBox: the plugin reads
# its options and helpers through the functions below, never through attributes a variable could shadow.
STOCK_RUN_NAMES = (
    'Meta', 'run', 'pre_run', 'post_run', 'run_tests', '_log', 'log_debug', 'log_info', 'log_success',
    'log_warning', 'log_failure', '_get_vars', 'get_fieldsets', 'as_form', 'validate_meta', 'get_job_data',
)


def reserved_names():
    """Names a variable may not take: what NetBox's Script itself needs (see STOCK_RUN_NAMES), and the run form's."""
    return {*STOCK_RUN_NAMES, *EXECUTION_PARAMETERS}


def is_text(value):
    # Translated strings (gettext_lazy) count as text.
    return isinstance(value, (str, Promise))


def _checkbox_value(value):
    # What a checkbox whose initial value is `value` shows: NetBox puts Meta.commit_default there as it is, so a
    # string 'False' starts checked (Django's CheckboxInput test), and that is what a run without a choice commits.
    return boolean_check(value)


# Where the loader records the module a class was loaded from; one namespaced attribute, so no name is taken from
# the script (a variable called `data_root` or `module_dir` stays the author's).
LOADED_FROM = '_custom_scripts_loaded_from'


def script_module_name(cls):
    """The module name script authors see (the loader imports modules under a private package)."""
    loaded = vars(cls).get(LOADED_FROM) or {}
    return loaded.get('module') or cls.__module__


def script_full_name(cls):
    return f'{script_module_name(cls)}.{cls.__name__}'


def loaded_from(cls, key, default=None):
    # Inherited: a class imported from another module reads that module's directory.
    for klass in inspect.getmro(cls):
        loaded = vars(klass).get(LOADED_FROM)
        if loaded is not None:
            return loaded.get(key, default)
    return default


def meta_value(cls, option):
    """
    A Meta option as written (or its default), read from Meta - or, for NetBox's own options, from a plain class
    attribute of that name, which wins as it does on NetBox. A variable cannot shadow it.
    """
    if option in CLASS_ATTRIBUTE_OPTIONS:
        for klass in inspect.getmro(cls):
            # The plugin's own classes (BaseScript, Script) hold no options.
            if klass is object or klass.__module__.startswith('netbox_custom_scripts.'):
                break
            if option in vars(klass):
                value = vars(klass)[option]
                if not isinstance(value, (ScriptVariable, classmethod, staticmethod, property)) and not callable(value):
                    return value
                break
    meta = class_attribute(cls, 'Meta')
    return getattr(meta, option, META_OPTIONS[option]) if meta is not None else META_OPTIONS[option]


def class_attribute(cls, name):
    for klass in inspect.getmro(cls):
        if name in vars(klass):
            return vars(klass)[name]
    return None


def parse_duration(value):
    """A Meta duration (seconds, or an RQ string such as '1h') as a positive int, or None when invalid."""
    try:
        seconds = parse_timeout(value)
    except (TimeoutFormatError, TypeError, ValueError, AssertionError):
        return None
    return seconds if isinstance(seconds, int) and seconds > 0 else None


def _parse_rate_limit(value):
    if not isinstance(value, str) or value.count('/') != 1:
        return None
    count, period = value.split('/')
    if not re.fullmatch(r'[0-9]{1,9}', count.strip()) or int(count) < 1 or period.strip() not in RATE_LIMIT_PERIODS:
        return None
    return int(count), RATE_LIMIT_PERIODS[period.strip()]


def _name_list(value):
    """The strings of a Meta list of variable names, or None when it is not a list or tuple."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        return None
    return [name for name in value if isinstance(name, str)]


def fieldsets_shape_ok(value):
    return isinstance(value, (list, tuple)) and all(
        isinstance(fs, (list, tuple)) and len(fs) == 2 and is_text(fs[0]) and isinstance(fs[1], (list, tuple))
        for fs in value
    )


@dataclass(frozen=True)
class ScriptOptions:
    """
    A script's Meta options as the plugin uses them: what NetBox tolerates made usable (names that are not
    variables left out, values read as NetBox reads them), the plugin's own as written (check_definition() has
    refused bad ones). Read with script_options(cls), never from class attributes a variable may shadow.
    """
    name: str
    description: str
    field_order: tuple | None
    fieldsets: tuple | None
    commit_default: bool
    scheduling_enabled: bool
    job_timeout: object             # as written; job_timeout_seconds is None when unset or invalid
    job_timeout_seconds: int | None
    job_timeout_valid: bool
    notifications_default: object   # as written; may be invalid (runs that do not choose are refused)
    hidden: bool
    singleton: bool
    queue: str | None
    sensitive_variables: tuple
    object_types: tuple
    approval_required: bool
    commit_requires_permission: bool | None
    run_mode: str
    allowed_queues: tuple
    max_runtime_seconds: int | None
    rate_limit: tuple | None        # (count, period in seconds)
    rate_limit_text: str | None


def script_options(cls):
    """The ScriptOptions of a Script class."""
    variables = script_variables(cls, ordered=False)
    name = meta_value(cls, 'name')
    description = meta_value(cls, 'description')
    field_order = _name_list(meta_value(cls, 'field_order'))
    fieldsets = meta_value(cls, 'fieldsets')
    if fieldsets is not None and fieldsets_shape_ok(fieldsets):
        fieldsets = tuple(
            (title, tuple(dict.fromkeys(n for n in names if isinstance(n, str) and n in variables)))
            for title, names in fieldsets
        )
    else:
        fieldsets = None
    timeout = meta_value(cls, 'job_timeout')
    timeout_seconds = None if timeout is None else parse_duration(timeout)
    max_runtime = meta_value(cls, 'max_runtime')
    rate_limit = meta_value(cls, 'rate_limit')

    def as_tuple(option):
        value = meta_value(cls, option)
        return tuple(value) if isinstance(value, (list, tuple)) else ()

    return ScriptOptions(
        name=str(name) if name and is_text(name) else cls.__name__,
        description='' if description is None else str(description),
        field_order=tuple(n for n in dict.fromkeys(field_order) if n in variables) if field_order else None,
        fieldsets=fieldsets or None,
        commit_default=_checkbox_value(meta_value(cls, 'commit_default')),
        scheduling_enabled=bool(meta_value(cls, 'scheduling_enabled')),
        job_timeout=timeout,
        job_timeout_seconds=timeout_seconds,
        job_timeout_valid=timeout is None or timeout_seconds is not None,
        notifications_default=meta_value(cls, 'notifications_default'),
        hidden=meta_value(cls, 'hidden') is True,
        singleton=meta_value(cls, 'singleton') is True,
        queue=meta_value(cls, 'queue') or None,
        sensitive_variables=as_tuple('sensitive_variables'),
        object_types=as_tuple('object_types'),
        approval_required=meta_value(cls, 'approval_required') is True,
        commit_requires_permission=meta_value(cls, 'commit_requires_permission'),
        run_mode=meta_value(cls, 'run_mode'),
        allowed_queues=as_tuple('allowed_queues'),
        max_runtime_seconds=None if max_runtime is None else parse_duration(max_runtime),
        rate_limit=_parse_rate_limit(rate_limit),
        rate_limit_text=rate_limit if isinstance(rate_limit, str) else None,
    )


def script_variables(cls, ordered=True):
    """
    The script's variables by name, in declaration order (a base class's first; a variable a subclass redefines
    keeps its place, one it replaces with anything else is gone), then reordered by Meta.field_order unless
    Meta.fieldsets is set. Names in field_order that are not variables are ignored, as NetBox ignores them.
    """
    variables = {}
    for klass in reversed(inspect.getmro(cls)):
        for name, attr in vars(klass).items():
            if isinstance(attr, ScriptVariable):
                variables[name] = attr
            elif name in variables:
                del variables[name]
    if not ordered:
        return variables
    field_order = _name_list(meta_value(cls, 'field_order'))
    if not field_order or meta_value(cls, 'fieldsets'):
        return variables
    ordered_vars = {name: variables.pop(name) for name in field_order if name in variables}
    ordered_vars.update(variables)
    return ordered_vars


def secret_variable_names(cls):
    """Variables whose values must never be stored: SecretVar instances and Meta.sensitive_variables."""
    sensitive = set(script_options(cls).sensitive_variables)
    return {name for name, var in script_variables(cls).items() if var.secret or name in sensitive}


def form_fieldsets(cls):
    """
    The form layout: Meta.fieldsets if set (variables not listed there are not shown), else one group of every
    variable; then the "Script Execution Parameters" group.
    """
    options = script_options(cls)
    if options.fieldsets:
        fieldsets = [(title, tuple(names)) for title, names in options.fieldsets]
    else:
        fieldsets = [(_('Script Data'), tuple(script_variables(cls)))]
    left_out = set()
    if not options.allowed_queues:
        left_out.add('_queue')
    if not options.scheduling_enabled:
        left_out |= {'_schedule_at', '_interval', '_cron'}
    execution = tuple(name for name in EXECUTION_PARAMETERS if name not in left_out)
    fieldsets.append((_('Script Execution Parameters'), execution))
    return fieldsets


def describe_variables(cls):
    """JSON-safe descriptions of the variables, in form order, for the Script record and API clients."""
    secret = secret_variable_names(cls)
    described = []
    for name, var in script_variables(cls).items():
        entry = {'name': name, **var.describe()}
        if name in secret:
            entry.update(secret=True, default=None)
        described.append(entry)
    return described


# Options NetBox's own Script reads through class properties, so a plain class attribute of that name (not a
# variable) replaces Meta's value there: `description = '...'` on the class, as legacy reports were written.
CLASS_ATTRIBUTE_OPTIONS = (
    'name', 'description', 'field_order', 'fieldsets', 'commit_default', 'job_timeout', 'scheduling_enabled',
    'notifications_default',
)
