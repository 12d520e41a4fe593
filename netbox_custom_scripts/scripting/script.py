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

import yaml
from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise, classproperty
from django.utils.translation import gettext as _
from rq.exceptions import TimeoutFormatError
from rq.utils import parse_timeout

from .exceptions import ScriptDefinitionError
from .log import LogEntry, LogLevel, safe_link
from .variables import ScriptVariable

__all__ = (
    'BaseScript',
    'EXECUTION_PARAMETERS',
    'MemoryReporter',
    'META_OPTIONS',
    'NOTIFICATION_CHOICES',
    'Script',
    'reserved_names',
    'safe_file_name',
)

NOTIFICATION_CHOICES = ('always', 'on_failure', 'never')

# Meta options and their defaults. Variables may not be named like these (they are class attributes too).
META_OPTIONS = {
    'name': None,
    'description': '',
    'field_order': None,
    'fieldsets': None,
    'commit_default': True,
    'scheduling_enabled': True,
    'job_timeout': None,
    'notifications_default': 'always',
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

RUN_MODES = ('any', 'manual', 'event')
RATE_LIMIT_PERIODS = {'second': 1, 'minute': 60, 'hour': 3600, 'day': 86400}

# Form fields the run form adds next to the script's own variables; reserved as variable names.
EXECUTION_PARAMETERS = ('_commit', '_queue', '_schedule_at', '_interval', '_cron', '_notifications')

# Instance attributes a Script has (NetBox's too); variables may not take these names, nor any name of BaseScript.
_INSTANCE_ATTRIBUTES = ('request', 'event', 'logger', 'storage', 'output', 'failed', 'messages', 'tests')


def reserved_names():
    """
    Names a variable may not take: they would shadow a Script attribute, method or Meta-backed property (so the
    script would break in ways that are hard to see), or a run parameter of the form.
    """
    return {
        *(name for name in dir(BaseScript) if not name.startswith('__')),
        *_INSTANCE_ATTRIBUTES,
        *META_OPTIONS,
        *EXECUTION_PARAMETERS,
    }


def _is_text(value):
    # Translated strings (gettext_lazy) count as text.
    return isinstance(value, (str, Promise))


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


class BaseScript:
    """
    Base class for scripts and for shared script base classes. Only subclasses of `Script` are listed and runnable;
    derive helper bases from `BaseScript` to keep them out of the list.
    """

    # Django templates must not call the class.
    do_not_call_in_templates = True

    class Meta:
        pass

    # Set by the loader: the directory load_yaml()/load_json() may read from, and the module's place below it.
    data_root = None
    module_dir = ''

    def __init__(self):
        self.request = None
        # For runs started by an event rule: event type, object type and ID, before/after snapshots.
        self.event = None
        self.output = ''
        self.failed = False
        self.logger = logging.getLogger(f'netbox_custom_scripts.scripts.{self.full_name}')
        self._reporter = MemoryReporter()
        self._current_test = None
        self.tests = {
            name: {level: 0 for level in (LogLevel.SUCCESS, LogLevel.INFO, LogLevel.WARNING, LogLevel.FAILURE)}
            for name in self.test_method_names()
        }

    def __str__(self):
        return self.name

    # Identity

    @classproperty
    def module(cls):
        # The loader registers modules under a private package; script authors see the module's own name.
        return getattr(cls, '_module_name', None) or cls.__module__

    @classproperty
    def class_name(cls):
        return cls.__name__

    @classproperty
    def full_name(cls):
        return f'{cls.module}.{cls.class_name}'

    # Meta options

    @classmethod
    def _meta_option(cls, option):
        return getattr(cls.Meta, option, META_OPTIONS[option])

    @classproperty
    def name(cls):
        # An invalid Meta.name (reported by validate_definition) must not break listing the module's scripts.
        value = cls._meta_option('name')
        return value if value and _is_text(value) else cls.__name__

    @classproperty
    def description(cls):
        return cls._meta_option('description')

    @classproperty
    def field_order(cls):
        return cls._meta_option('field_order')

    @classproperty
    def fieldsets(cls):
        return cls._meta_option('fieldsets')

    @classproperty
    def commit_default(cls):
        return cls._meta_option('commit_default')

    @classproperty
    def scheduling_enabled(cls):
        return cls._meta_option('scheduling_enabled')

    @classproperty
    def job_timeout(cls):
        return cls._meta_option('job_timeout')

    @classproperty
    def notifications_default(cls):
        return cls._meta_option('notifications_default')

    @classproperty
    def hidden(cls):
        return cls._meta_option('hidden')

    @classproperty
    def singleton(cls):
        return cls._meta_option('singleton')

    @classproperty
    def queue(cls):
        return cls._meta_option('queue')

    @classproperty
    def sensitive_variables(cls):
        return tuple(cls._meta_option('sensitive_variables'))

    @classproperty
    def object_types(cls):
        return tuple(cls._meta_option('object_types'))

    @classproperty
    def approval_required(cls):
        return cls._meta_option('approval_required')

    @classproperty
    def commit_requires_permission(cls):
        return cls._meta_option('commit_requires_permission')

    @classproperty
    def run_mode(cls):
        return cls._meta_option('run_mode')

    @classproperty
    def allowed_queues(cls):
        return tuple(cls._meta_option('allowed_queues'))

    @classmethod
    def job_timeout_seconds(cls):
        """Meta.job_timeout as seconds (it may be given as an RQ duration string such as '1h'), or None."""
        return None if cls.job_timeout is None else parse_timeout(cls.job_timeout)

    @classmethod
    def validate_definition(cls):
        """
        Check the Meta options and variables; raise ScriptDefinitionError listing every problem. Called when a
        module loads, so a bad definition is reported there rather than when someone tries to run it.
        """
        errors = []
        meta = cls.Meta
        variables = cls._get_vars(ordered=False)

        unknown = sorted(
            key for key in vars(meta) if not key.startswith('_') and key not in META_OPTIONS
        )
        if unknown:
            errors.append(_('unknown Meta option(s): {names} (known: {known})').format(
                names=', '.join(unknown), known=', '.join(META_OPTIONS)
            ))
        for option in ('name', 'description'):
            value = getattr(meta, option, None)
            if value is not None and not _is_text(value):
                errors.append(_('Meta.{option} must be a string (found {value!r})').format(option=option, value=value))
        for option in ('commit_default', 'scheduling_enabled', 'hidden', 'singleton', 'approval_required'):
            if not isinstance(value := cls._meta_option(option), bool):
                errors.append(_('Meta.{option} must be True or False (found {value!r})').format(
                    option=option, value=value
                ))
        if (timeout := cls._meta_option('job_timeout')) is not None:
            try:
                seconds = parse_timeout(timeout)
            except (TimeoutFormatError, TypeError, ValueError, AssertionError):
                seconds = None
            if isinstance(timeout, bool) or not isinstance(seconds, int) or seconds <= 0:
                errors.append(_(
                    "Meta.job_timeout must be a positive number of seconds or a duration such as '30m' "
                    '(found {value!r})'
                ).format(value=timeout))
        if (notifications := cls._meta_option('notifications_default')) not in NOTIFICATION_CHOICES:
            errors.append(_('Meta.notifications_default must be one of {choices} (found {value!r})').format(
                choices=', '.join(NOTIFICATION_CHOICES), value=notifications
            ))
        queue = cls._meta_option('queue')
        if queue is not None and (not isinstance(queue, str) or queue not in settings.RQ_QUEUES):
            errors.append(_('Meta.queue {value!r} is not an RQ queue of this NetBox (known: {queues})').format(
                value=queue, queues=', '.join(sorted(settings.RQ_QUEUES))
            ))
        errors.extend(cls._validate_policy())
        errors.extend(cls._validate_name_list('field_order', cls._meta_option('field_order'), variables))
        sensitive = cls._meta_option('sensitive_variables')
        errors.extend(cls._validate_name_list('sensitive_variables', sensitive, variables))
        if (fieldsets := cls._meta_option('fieldsets')) is not None:
            if not isinstance(fieldsets, (list, tuple)) or not all(
                isinstance(fs, (list, tuple)) and len(fs) == 2 and _is_text(fs[0]) and isinstance(fs[1], (list, tuple))
                for fs in fieldsets
            ):
                errors.append(_('Meta.fieldsets must be a sequence of (title, (variable, ...)) pairs'))
            else:
                listed = [name for _title, names in fieldsets for name in names]
                errors.extend(cls._validate_name_list('fieldsets', listed, variables))
        errors.extend(cls._validate_object_types())

        reserved = reserved_names()
        for name in variables:
            if name in reserved:
                errors.append(_(
                    'variable {name!r} clashes with a reserved Script attribute or run parameter; rename it'
                ).format(name=name))
        for name, var in variables.items():
            for ref in getattr(var, 'referenced_variables', ()):
                if ref not in variables:
                    errors.append(_('{name}: query_params refers to ${ref}, which is not a variable').format(
                        name=name, ref=ref
                    ))
        if errors:
            raise ScriptDefinitionError(errors)

    @classmethod
    def _validate_policy(cls):
        errors = []
        if (value := cls._meta_option('commit_requires_permission')) is not None and not isinstance(value, bool):
            errors.append(_('Meta.commit_requires_permission must be True, False or None (found {value!r})').format(
                value=value
            ))
        if (mode := cls._meta_option('run_mode')) not in RUN_MODES:
            errors.append(_('Meta.run_mode must be one of {choices} (found {value!r})').format(
                choices=', '.join(RUN_MODES), value=mode
            ))
        queues = cls._meta_option('allowed_queues')
        if isinstance(queues, str) or not isinstance(queues, (list, tuple)):
            errors.append(_('Meta.allowed_queues must be a list of RQ queue names'))
        elif unknown := [queue for queue in queues if queue not in settings.RQ_QUEUES]:
            errors.append(_('Meta.allowed_queues names {names}, not RQ queues of this NetBox (known: {queues})').format(
                names=', '.join(map(repr, unknown)), queues=', '.join(sorted(settings.RQ_QUEUES))
            ))
        if (limit := cls._meta_option('max_runtime')) is not None:
            try:
                seconds = parse_timeout(limit)
            except (TimeoutFormatError, TypeError, ValueError, AssertionError):
                seconds = None
            if isinstance(limit, bool) or not isinstance(seconds, int) or seconds <= 0:
                errors.append(_(
                    "Meta.max_runtime must be a positive number of seconds or a duration such as '30m' "
                    '(found {value!r})'
                ).format(value=limit))
            elif (timeout := cls.job_timeout_seconds_or_none()) and timeout > seconds:
                errors.append(_('Meta.job_timeout ({timeout} s) exceeds Meta.max_runtime ({limit} s)').format(
                    timeout=timeout, limit=seconds
                ))
        if cls._meta_option('rate_limit') is not None and cls.rate_limit() is None:
            errors.append(_(
                "Meta.rate_limit must look like '10/hour' (a positive count per second, minute, hour or day; "
                'found {value!r})'
            ).format(value=cls._meta_option('rate_limit')))
        return errors

    @classmethod
    def job_timeout_seconds_or_none(cls):
        try:
            return cls.job_timeout_seconds()
        except (TimeoutFormatError, TypeError, ValueError, AssertionError):
            return None

    @classmethod
    def max_runtime_seconds(cls):
        """Meta.max_runtime as seconds, or None."""
        limit = cls._meta_option('max_runtime')
        return None if limit is None else parse_timeout(limit)

    @classmethod
    def rate_limit(cls):
        """Meta.rate_limit as (count, period in seconds), or None when unset or malformed."""
        value = cls._meta_option('rate_limit')
        if not isinstance(value, str) or value.count('/') != 1:
            return None
        count, period = value.split('/')
        if not re.fullmatch(r'[0-9]{1,9}', count.strip()) or int(count) < 1 or period.strip() not in RATE_LIMIT_PERIODS:
            return None
        return int(count), RATE_LIMIT_PERIODS[period.strip()]

    @classmethod
    def _validate_object_types(cls):
        object_types = cls._meta_option('object_types')
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

    @staticmethod
    def _validate_name_list(option, names, variables):
        if names is None:
            return []
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            return [_('Meta.{option} must be a list or tuple of variable names').format(option=option)]
        errors = [
            _('Meta.{option} names {name!r}, which is not a variable').format(option=option, name=name)
            for name in names if not isinstance(name, str) or name not in variables
        ]
        duplicates = sorted({name for name in names if isinstance(name, str) and names.count(name) > 1})
        if duplicates:
            errors.append(_('Meta.{option} lists {names} more than once').format(
                option=option, names=', '.join(repr(name) for name in duplicates)
            ))
        return errors

    # Variables

    @classmethod
    def _get_vars(cls, ordered=True):
        """
        The script's variables by name, in declaration order (a base class's first; a variable a subclass redefines
        keeps its place, one it replaces with anything else is gone), then reordered by Meta.field_order unless
        Meta.fieldsets is set.
        """
        variables = {}
        for klass in reversed(inspect.getmro(cls)):
            for name, attr in vars(klass).items():
                if isinstance(attr, ScriptVariable):
                    variables[name] = attr
                elif name in variables:
                    del variables[name]
        if not ordered or not cls.field_order or cls.fieldsets:
            return variables
        ordered_vars = {name: variables.pop(name) for name in cls.field_order if name in variables}
        ordered_vars.update(variables)
        return ordered_vars

    @classmethod
    def secret_variable_names(cls):
        """Variables whose values must never be stored: SecretVar instances and Meta.sensitive_variables."""
        sensitive = set(cls.sensitive_variables)
        return {name for name, var in cls._get_vars().items() if var.secret or name in sensitive}

    @classmethod
    def get_fieldsets(cls):
        """
        The form layout: Meta.fieldsets if set (variables not listed there are not shown), else one group of every
        variable; then the "Script Execution Parameters" group.
        """
        if cls.fieldsets:
            fieldsets = [(title, tuple(names)) for title, names in cls.fieldsets]
        else:
            fieldsets = [(_('Script Data'), tuple(cls._get_vars()))]
        execution = ['_commit']
        if cls.allowed_queues:
            execution.append('_queue')
        if cls.scheduling_enabled:
            execution += ['_schedule_at', '_interval', '_cron']
        execution.append('_notifications')
        fieldsets.append((_('Script Execution Parameters'), tuple(execution)))
        return fieldsets

    @classmethod
    def describe_variables(cls):
        """JSON-safe descriptions of the variables, in form order, for the Script record and API clients."""
        secret = cls.secret_variable_names()
        described = []
        for name, var in cls._get_vars().items():
            entry = {'name': name, **var.describe()}
            if name in secret:
                entry.update(secret=True, default=None)
            described.append(entry)
        return described

    @classmethod
    def test_method_names(cls):
        """The report-style test_* methods, in name order (as NetBox runs them); BaseScript's own are not tests."""
        return [
            name for name in sorted(dir(cls))
            if name.startswith('test_') and not hasattr(BaseScript, name) and callable(getattr(cls, name))
        ]

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
        for name in self.test_method_names():
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
        if not self.data_root:
            raise FileNotFoundError(_('This script module has no directory to read data files from.'))
        filename = str(filename)
        if os.path.isabs(filename) or '\x00' in filename:
            raise PermissionError(_('Data file {name!r}: absolute paths are not allowed.').format(name=filename))
        root = os.path.realpath(self.data_root)
        path = os.path.realpath(os.path.join(root, self.module_dir, filename))
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
