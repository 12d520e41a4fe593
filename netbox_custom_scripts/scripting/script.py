"""
The Script base class: what a script author subclasses. It declares inputs (variables), options (Meta) and
`run(data, commit)`, and offers logging, progress, file output and data-file helpers. How a run is executed,
recorded and rolled back is the execution core's business; a Script only talks to the reporter it is given.
"""
import inspect
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field

import yaml
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.widgets import boolean_check
from django.utils import timezone
from django.utils.functional import Promise, classproperty
from django.utils.translation import gettext as _
from rq.exceptions import TimeoutFormatError
from rq.utils import parse_timeout

from .exceptions import ScriptDefinitionError
from .log import LogEntry, LogLevel, safe_link
from .netbox_api import NetBoxScriptAPI
from .variables import ScriptVariable

__all__ = (
    'BaseScript',
    'DefinitionCheck',
    'EXECUTION_PARAMETERS',
    'MemoryReporter',
    'META_OPTIONS',
    'NOTIFICATION_CHOICES',
    'PLUGIN_META_OPTIONS',
    'STOCK_META_OPTIONS',
    'Script',
    'ScriptOptions',
    'check_definition',
    'check_run_options',
    'describe_variables',
    'form_fieldsets',
    'reserved_names',
    'run_clean_hook',
    'safe_file_name',
    'script_full_name',
    'script_module_name',
    'script_options',
    'script_variables',
    'secret_variable_names',
    'report_test_names',
)

NOTIFICATION_CHOICES = ('always', 'on_failure', 'never')

# Tells an argument left out from an explicit None (validate_meta, as NetBox's).
_UNSET = object()

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

# Form fields the run form adds next to the script's own variables; a variable cannot take these names.
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


def _is_text(value):
    # Translated strings (gettext_lazy) count as text.
    return isinstance(value, (str, Promise))


def _checkbox_value(value):
    # What a checkbox whose initial value is `value` shows: NetBox puts Meta.commit_default there as it is, so a
    # string 'False' starts checked (Django's CheckboxInput test), and that is what a run without a choice commits.
    return boolean_check(value)


# Where the loader records the module a class was loaded from; one namespaced attribute, so no name is taken from
# the script (a variable called `data_root` or `module_dir` stays the author's).
_LOADED_FROM = '_custom_scripts_loaded_from'


def script_module_name(cls):
    """The module name script authors see (the loader imports modules under a private package)."""
    loaded = vars(cls).get(_LOADED_FROM) or {}
    return loaded.get('module') or cls.__module__


def script_full_name(cls):
    return f'{script_module_name(cls)}.{cls.__name__}'


def _loaded_from(cls, key, default=None):
    # Inherited: a class imported from another module reads that module's directory.
    for klass in inspect.getmro(cls):
        loaded = vars(klass).get(_LOADED_FROM)
        if loaded is not None:
            return loaded.get(key, default)
    return default


# Options NetBox's own Script reads through class properties, so a plain class attribute of that name (not a
# variable) replaces Meta's value there: `description = '...'` on the class, as legacy reports were written.
CLASS_ATTRIBUTE_OPTIONS = (
    'name', 'description', 'field_order', 'fieldsets', 'commit_default', 'job_timeout', 'scheduling_enabled',
    'notifications_default',
)


def _meta_value(cls, option):
    """
    A Meta option as written (or its default), read from Meta - or, for NetBox's own options, from a plain class
    attribute of that name, which wins as it does on NetBox. A variable cannot shadow it.
    """
    if option in CLASS_ATTRIBUTE_OPTIONS:
        for klass in inspect.getmro(cls):
            if klass in (BaseScript, object) or klass.__module__.startswith('netbox_custom_scripts.'):
                break
            if option in vars(klass):
                value = vars(klass)[option]
                if not isinstance(value, (ScriptVariable, classmethod, staticmethod, property)) and not callable(value):
                    return value
                break
    meta = _class_attribute(cls, 'Meta')
    return getattr(meta, option, META_OPTIONS[option]) if meta is not None else META_OPTIONS[option]


def _class_attribute(cls, name):
    for klass in inspect.getmro(cls):
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _parse_duration(value):
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


def _fieldsets_shape_ok(value):
    return isinstance(value, (list, tuple)) and all(
        isinstance(fs, (list, tuple)) and len(fs) == 2 and _is_text(fs[0]) and isinstance(fs[1], (list, tuple))
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
    name = _meta_value(cls, 'name')
    description = _meta_value(cls, 'description')
    field_order = _name_list(_meta_value(cls, 'field_order'))
    fieldsets = _meta_value(cls, 'fieldsets')
    if fieldsets is not None and _fieldsets_shape_ok(fieldsets):
        fieldsets = tuple(
            (title, tuple(dict.fromkeys(n for n in names if isinstance(n, str) and n in variables)))
            for title, names in fieldsets
        )
    else:
        fieldsets = None
    timeout = _meta_value(cls, 'job_timeout')
    timeout_seconds = None if timeout is None else _parse_duration(timeout)
    max_runtime = _meta_value(cls, 'max_runtime')
    rate_limit = _meta_value(cls, 'rate_limit')

    def as_tuple(option):
        value = _meta_value(cls, option)
        return tuple(value) if isinstance(value, (list, tuple)) else ()

    return ScriptOptions(
        name=str(name) if name and _is_text(name) else cls.__name__,
        description='' if description is None else str(description),
        field_order=tuple(n for n in dict.fromkeys(field_order) if n in variables) if field_order else None,
        fieldsets=fieldsets or None,
        commit_default=_checkbox_value(_meta_value(cls, 'commit_default')),
        scheduling_enabled=bool(_meta_value(cls, 'scheduling_enabled')),
        job_timeout=timeout,
        job_timeout_seconds=timeout_seconds,
        job_timeout_valid=timeout is None or timeout_seconds is not None,
        notifications_default=_meta_value(cls, 'notifications_default'),
        hidden=_meta_value(cls, 'hidden') is True,
        singleton=_meta_value(cls, 'singleton') is True,
        queue=_meta_value(cls, 'queue') or None,
        sensitive_variables=as_tuple('sensitive_variables'),
        object_types=as_tuple('object_types'),
        approval_required=_meta_value(cls, 'approval_required') is True,
        commit_requires_permission=_meta_value(cls, 'commit_requires_permission'),
        run_mode=_meta_value(cls, 'run_mode'),
        allowed_queues=as_tuple('allowed_queues'),
        max_runtime_seconds=None if max_runtime is None else _parse_duration(max_runtime),
        rate_limit=_parse_rate_limit(rate_limit),
        rate_limit_text=rate_limit if isinstance(rate_limit, str) else None,
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
    meta = _class_attribute(cls, 'Meta')
    unknown = sorted(key for key in vars(meta) if not key.startswith('_') and key not in META_OPTIONS) if meta else []
    if unknown:
        warnings.append(_('unknown Meta option(s) ignored, as NetBox ignores them: {names} (known: {known})').format(
            names=', '.join(unknown), known=', '.join(META_OPTIONS)
        ))
    for option, shown in (('name', options.name), ('description', options.description)):
        value = _meta_value(cls, option)
        if value is not None and not _is_text(value):
            warnings.append(_('Meta.{option} should be a string (found {value!r}): {shown!r} is shown').format(
                option=option, value=value, shown=shown
            ))
    for option, effective in (('commit_default', options.commit_default),
                              ('scheduling_enabled', options.scheduling_enabled)):
        if not isinstance(value := _meta_value(cls, option), bool):
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
    warnings.extend(_check_name_list('field_order', _meta_value(cls, 'field_order'), variables, _('ignored')))
    fieldsets = _meta_value(cls, 'fieldsets')
    if fieldsets is not None:
        if not _fieldsets_shape_ok(fieldsets):
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
        if not isinstance(value := _meta_value(cls, option), bool):
            errors.append(_('Meta.{option} must be True or False (found {value!r})').format(
                option=option, value=value
            ))
    queue = _meta_value(cls, 'queue')
    if queue is not None and (not isinstance(queue, str) or queue not in settings.RQ_QUEUES):
        errors.append(_('Meta.queue {value!r} is not an RQ queue of this NetBox (known: {queues})').format(
            value=queue, queues=', '.join(sorted(settings.RQ_QUEUES))
        ))
    if (value := _meta_value(cls, 'commit_requires_permission')) is not None and not isinstance(value, bool):
        errors.append(_('Meta.commit_requires_permission must be True, False or None (found {value!r})').format(
            value=value
        ))
    if (mode := _meta_value(cls, 'run_mode')) not in RUN_MODES:
        errors.append(_('Meta.run_mode must be one of {choices} (found {value!r})').format(
            choices=', '.join(RUN_MODES), value=mode
        ))
    queues = _meta_value(cls, 'allowed_queues')
    if isinstance(queues, str) or not isinstance(queues, (list, tuple)):
        errors.append(_('Meta.allowed_queues must be a list of RQ queue names'))
    elif unknown := [queue for queue in queues if queue not in settings.RQ_QUEUES]:
        errors.append(_('Meta.allowed_queues names {names}, not RQ queues of this NetBox (known: {queues})').format(
            names=', '.join(map(repr, unknown)), queues=', '.join(sorted(settings.RQ_QUEUES))
        ))
    if (limit := _meta_value(cls, 'max_runtime')) is not None:
        if isinstance(limit, bool) or options.max_runtime_seconds is None:
            errors.append(_(
                "Meta.max_runtime must be a positive number of seconds or a duration such as '30m' "
                '(found {value!r})'
            ).format(value=limit))
        elif (timeout := options.job_timeout_seconds) and timeout > options.max_runtime_seconds:
            errors.append(_('Meta.job_timeout ({timeout} s) exceeds Meta.max_runtime ({limit} s)').format(
                timeout=timeout, limit=options.max_runtime_seconds
            ))
    if (rate_limit := _meta_value(cls, 'rate_limit')) is not None and options.rate_limit is None:
        errors.append(_(
            "Meta.rate_limit must look like '10/hour' (a positive count per second, minute, hour or day; "
            'found {value!r})'
        ).format(value=rate_limit))
    sensitive = _meta_value(cls, 'sensitive_variables')
    if isinstance(sensitive, str) or not isinstance(sensitive, (list, tuple)):
        errors.append(_('Meta.sensitive_variables must be a list or tuple of variable names'))
    else:
        # Strict: a misspelt name would store a secret.
        errors.extend(
            _('Meta.sensitive_variables names {name!r}, which is not a variable').format(name=name)
            for name in sensitive if not isinstance(name, str) or name not in variables
        )
    errors.extend(_check_object_types(_meta_value(cls, 'object_types')))
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
    field_order = _name_list(_meta_value(cls, 'field_order'))
    if not field_order or _meta_value(cls, 'fieldsets'):
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
    execution = ['_commit']
    if options.allowed_queues:
        execution.append('_queue')
    if options.scheduling_enabled:
        execution += ['_schedule_at', '_interval', '_cron']
    execution.append('_notifications')
    fieldsets.append((_('Script Execution Parameters'), tuple(execution)))
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


def report_test_names(cls):
    """The report-style test_* methods, in name order (as NetBox runs them); BaseScript's own are not tests."""
    return [
        name for name in sorted(dir(cls))
        if name.startswith('test_') and not hasattr(BaseScript, name) and callable(getattr(cls, name))
    ]


def run_clean_hook(script, data):
    """Call the script's clean(data) hook, unless `clean` is one of its variables (a name NetBox leaves free)."""
    if isinstance(_class_attribute(type(script), 'clean'), ScriptVariable):
        return
    script.clean(data)


_CONTROL_CHARACTERS = re.compile(r'[\x00-\x1f\x7f]')


def safe_file_name(name, max_length=255):
    """
    The last path component of `name` (either slash), without control characters or surrounding blanks, at most
    `max_length` characters (the extension kept); None when nothing usable is left.
    """
    base = re.split(r'[/\\]', str(name))[-1]
    base = _CONTROL_CHARACTERS.sub('', base).strip()
    if not base or base in ('.', '..'):
        return None
    if len(base) > max_length:
        stem, dot, extension = base.rpartition('.')
        if dot and 0 < len(extension) < 16:
            base = stem[:max_length - len(extension) - 1] + '.' + extension
        else:
            base = base[:max_length]
    return base


class MemoryReporter:
    """
    Keeps a script's log, progress and files in memory. Used when a script is instantiated outside a run (e.g. in
    a unit test); the execution core gives running scripts a recorder that persists them as they happen.
    """

    def __init__(self):
        self.entries = []
        self.progress = None
        self.files = []

    def log(self, entry):
        self.entries.append(entry)

    def set_progress(self, done, total, message):
        self.progress = (done, total, message)

    def save_file(self, name, content, content_type):
        self.files.append((name, content, content_type))


class BaseScript(NetBoxScriptAPI):
    """
    Base class for scripts and for shared script base classes. Only subclasses of `Script` are listed and runnable;
    derive helper bases from `BaseScript` to keep them out of the list.
    """

    # Django templates must not call the class.
    do_not_call_in_templates = True

    class Meta:
        pass

    def __init__(self):
        self.request = None
        # For runs started by an event rule: event type, object type and ID, before/after snapshots.
        self._run_event = None
        self.output = ''
        self.failed = False
        self.logger = logging.getLogger(f'netbox_custom_scripts.scripts.{script_full_name(type(self))}')
        self._reporter = MemoryReporter()
        self._current_test = None
        # This run's log lines as NetBox keeps them (dicts; a test_* method's go to its `log` in self.tests), for
        # scripts that read or return their own log. The run's record is kept by the reporter.
        self.messages = []
        self.tests = {
            name: {
                **{level: 0 for level in (LogLevel.SUCCESS, LogLevel.INFO, LogLevel.WARNING, LogLevel.FAILURE)},
                'log': [],
            }
            for name in report_test_names(type(self))
        }

    def __str__(self):
        return script_options(type(self)).name

    @property
    def event(self):
        """For runs started by an event rule: event type, object type and ID, before/after snapshots."""
        return self._run_event

    # Identity (author-facing; the plugin itself uses script_module_name() and script_full_name())

    @classproperty
    def module(cls):
        # The loader registers modules under a private package; script authors see the module's own name.
        return script_module_name(cls)

    @classproperty
    def class_name(cls):
        return cls.__name__

    @classproperty
    def full_name(cls):
        return script_full_name(cls)

    @classproperty
    def data_root(cls):
        """The directory load_yaml()/load_json() read from (set by the loader), or None."""
        return _loaded_from(cls, 'data_root')

    @classproperty
    def module_dir(cls):
        """The module's place below data_root."""
        return _loaded_from(cls, 'module_dir', '')

    # Meta options, for script authors as on NetBox (a variable of the same name shadows them, as on NetBox). The
    # plugin reads them with script_options().

    @classmethod
    def _meta_option(cls, option):
        return _meta_value(cls, option)

    @classproperty
    def name(cls):
        return script_options(cls).name

    @classproperty
    def description(cls):
        return script_options(cls).description

    @classproperty
    def field_order(cls):
        return _meta_value(cls, 'field_order')

    @classproperty
    def fieldsets(cls):
        return _meta_value(cls, 'fieldsets')

    @classproperty
    def commit_default(cls):
        return _meta_value(cls, 'commit_default')

    @classproperty
    def scheduling_enabled(cls):
        return _meta_value(cls, 'scheduling_enabled')

    @classproperty
    def job_timeout(cls):
        return _meta_value(cls, 'job_timeout')

    @classproperty
    def notifications_default(cls):
        return _meta_value(cls, 'notifications_default')

    @classproperty
    def hidden(cls):
        return _meta_value(cls, 'hidden')

    @classproperty
    def singleton(cls):
        return _meta_value(cls, 'singleton')

    @classproperty
    def queue(cls):
        return _meta_value(cls, 'queue')

    @classproperty
    def sensitive_variables(cls):
        return script_options(cls).sensitive_variables

    @classproperty
    def object_types(cls):
        return script_options(cls).object_types

    @classproperty
    def approval_required(cls):
        return _meta_value(cls, 'approval_required')

    @classproperty
    def commit_requires_permission(cls):
        return _meta_value(cls, 'commit_requires_permission')

    @classproperty
    def run_mode(cls):
        return _meta_value(cls, 'run_mode')

    @classproperty
    def allowed_queues(cls):
        return script_options(cls).allowed_queues

    @classmethod
    def job_timeout_seconds(cls):
        """Meta.job_timeout as seconds (it may be given as an RQ duration string such as '1h'), or None."""
        return script_options(cls).job_timeout_seconds

    @classmethod
    def max_runtime_seconds(cls):
        """Meta.max_runtime as seconds, or None."""
        return script_options(cls).max_runtime_seconds

    @classmethod
    def rate_limit(cls):
        """Meta.rate_limit as (count, period in seconds), or None when unset or malformed."""
        return script_options(cls).rate_limit

    @classmethod
    def validate_meta(cls, job_timeout=_UNSET, notifications=_UNSET):
        """
        As NetBox's: raise django.core.exceptions.ValidationError when the run about to be queued cannot use the
        job_timeout (the given one, or Meta's) or notifications (likewise).
        """
        errors = {}
        timeout = _meta_value(cls, 'job_timeout') if job_timeout is _UNSET else job_timeout
        if timeout is not None and _parse_duration(timeout) is None:
            errors['job_timeout'] = _(
                "Invalid job_timeout value {value!r}: must be a positive number of seconds or a duration such as "
                "'1h' or '30m'."
            ).format(value=timeout)
        if notifications is _UNSET or notifications is None:
            notifications = _meta_value(cls, 'notifications_default')
        if notifications not in NOTIFICATION_CHOICES:
            errors['notifications_default'] = _('Invalid notifications value {value!r}: must be one of {choices}.'
                                                ).format(value=notifications, choices=', '.join(NOTIFICATION_CHOICES))
        if errors:
            raise ValidationError(errors)

    @classmethod
    def validate_definition(cls):
        """
        Check the Meta options and variables (see check_definition()); raise ScriptDefinitionError listing what
        the plugin refuses, and return the warnings (what NetBox tolerates).
        """
        check = check_definition(cls)
        if check.errors or check.unusable:
            raise ScriptDefinitionError([*check.errors, *check.unusable])
        return check.warnings

    # Variables

    @classmethod
    def _get_vars(cls, ordered=True):
        """The script's variables by name, in form order (see script_variables())."""
        return script_variables(cls, ordered)

    @classmethod
    def secret_variable_names(cls):
        return secret_variable_names(cls)

    @classmethod
    def get_fieldsets(cls):
        return form_fieldsets(cls)

    @classmethod
    def describe_variables(cls):
        return describe_variables(cls)

    @classmethod
    def test_method_names(cls):
        return report_test_names(cls)

    # What authors override

    def clean(self, data):
        """
        Cross-field validation: raise django.core.exceptions.ValidationError (a message, or a dict of messages by
        variable name) to reject the inputs. Runs after every variable validated on its own, for every entry point.
        """

    def run(self, data, commit):
        """
        The script's work. `data` holds the cleaned inputs; `commit` is False for a dry run, whose changes are
        rolled back afterwards. The return value becomes the run's output. The default runs `test_*` methods, as
        NetBox's legacy reports did.
        """
        self.pre_run()
        self.run_tests()
        self.post_run()

    def pre_run(self):
        pass

    def post_run(self):
        pass

    def run_tests(self):
        for name in report_test_names(type(self)):
            self._current_test = name
            try:
                getattr(self, name)()
            finally:
                self._current_test = None

    # Logging, progress and files

    def _log(self, message, obj=None, level=LogLevel.INFO):
        if self._current_test and level in self.tests[self._current_test]:
            self.tests[self._current_test][level] += 1
        if level == LogLevel.FAILURE:
            self.failed = True
        if message is None or message == '':
            return
        message = str(message)
        if obj is not None:
            meta = getattr(obj, '_meta', None)
            # A model instance is linked by type and ID (the page resolves its URL later: a script run from the CLI
            # must not load NetBox's URL configuration); anything else may carry its own URL.
            get_url = None if meta is not None else getattr(obj, 'get_absolute_url', None)
            try:
                url = get_url() if get_url else ''
            except Exception:  # an object without a detail view still gets its line
                url = ''
            entry = LogEntry(
                level, message, timezone.now(), str(obj), safe_link(url), meta.label_lower if meta else '',
                getattr(obj, 'pk', None) if meta else None, self._current_test or '',
            )
        else:
            entry = LogEntry(level, message, timezone.now(), test=self._current_test or '')
        self._reporter.log(entry)
        self._remember_message(entry, obj)

    def log_debug(self, message=None, obj=None):
        self._log(message, obj, LogLevel.DEBUG)

    def log_info(self, message=None, obj=None):
        self._log(message, obj, LogLevel.INFO)

    def log_success(self, message=None, obj=None):
        self._log(message, obj, LogLevel.SUCCESS)

    def log_warning(self, message=None, obj=None):
        self._log(message, obj, LogLevel.WARNING)

    def log_failure(self, message=None, obj=None):
        """Log a failure. The run still finishes, with the status "completed with failures"."""
        self._log(message, obj, LogLevel.FAILURE)

    def progress(self, done, total, message=None):
        """
        Report progress: `done` of `total` steps (non-negative numbers; `done` above `total` shows as complete), with
        an optional short message. Shown live on the run page.
        """
        for label, value in (('done', done), ('total', total)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f'progress() needs non-negative numbers for done and total; {label} is {value!r}'
                )
        self._reporter.set_progress(done, total, None if message is None else str(message))

    def save_file(self, name, content, content_type=None):
        """
        Attach a downloadable file to the run. `content` is str (stored as UTF-8) or bytes. The name is reduced to a
        plain file name (no directories, no control characters, at most 255 characters); `content_type` defaults to
        text/plain for str and application/octet-stream for bytes.
        """
        if not isinstance(content, (str, bytes, bytearray)):
            raise TypeError(f'save_file() content must be str or bytes, not {type(content).__name__}')
        if content_type is not None and (
            not isinstance(content_type, str) or '/' not in content_type or _CONTROL_CHARACTERS.search(content_type)
        ):
            raise ValueError(f'save_file(): invalid content type {content_type!r}')
        base = safe_file_name(name)
        if base is None:
            raise ValueError(f'save_file(): invalid file name {name!r}')
        self._reporter.save_file(base, bytes(content) if isinstance(content, bytearray) else content, content_type)

    # Data files next to the module

    def _data_file_path(self, filename):
        data_root = _loaded_from(type(self), 'data_root')
        if not data_root:
            raise FileNotFoundError(_('This script module has no directory to read data files from.'))
        filename = str(filename)
        if os.path.isabs(filename) or '\x00' in filename:
            raise PermissionError(_('Data file {name!r}: absolute paths are not allowed.').format(name=filename))
        root = os.path.realpath(data_root)
        path = os.path.realpath(os.path.join(root, _loaded_from(type(self), 'module_dir', ''), filename))
        if os.path.commonpath([root, path]) != root:
            raise PermissionError(_('Data file {name!r} is outside the scripts directory.').format(name=filename))
        return path

    def load_yaml(self, filename):
        """Read a YAML file that lives next to the script's module (confined to the scripts directory)."""
        with open(self._data_file_path(filename), encoding='utf-8') as f:
            return yaml.safe_load(f)

    def load_json(self, filename):
        """Read a JSON file that lives next to the script's module (confined to the scripts directory)."""
        with open(self._data_file_path(filename), encoding='utf-8') as f:
            return json.load(f)


class Script(BaseScript):
    """Subclass this to write a script. Every subclass in a module is listed and can be run."""
