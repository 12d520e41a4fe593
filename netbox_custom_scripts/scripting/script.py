"""
The Script base class: what a script author subclasses. It declares inputs (variables), options (Meta) and
`run(data, commit)`, and offers logging, progress, file output and data-file helpers. How a run is executed,
recorded and rolled back is the execution core's business; a Script only talks to the reporter it is given.
"""
import json
import logging
import math
import os
import re
from datetime import UTC, datetime

import yaml
from django.utils import timezone
from django.utils.functional import classproperty
from django.utils.translation import gettext as _

from .definition import check_definition
from .exceptions import ScriptDefinitionError
from .log import LogEntry, LogLevel, safe_link
from .meta import (
    class_attribute,
    describe_variables,
    form_fieldsets,
    loaded_from,
    script_full_name,
    script_module_name,
    script_options,
    script_variables,
    secret_variable_names,
)
from .meta_options import MetaOptions
from .netbox_api import NetBoxScriptAPI
from .variables import ScriptVariable

__all__ = (
    'BaseScript',
    'MemoryReporter',
    'run_clean_hook',
    'report_test_names',
    'safe_file_name',
    'Script',
)


def run_clean_hook(script, data):
    """Call the script's clean(data) hook, unless `clean` is one of its variables (a name NetBox leaves free)."""
    if isinstance(class_attribute(type(script), 'clean'), ScriptVariable):
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


class BaseScript(MetaOptions, NetBoxScriptAPI):
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
        return loaded_from(cls, 'data_root')

    @classproperty
    def module_dir(cls):
        """The module's place below data_root."""
        return loaded_from(cls, 'module_dir', '')

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
        # Runs once per line a script logs (100,000 lines are common): keep it lean.
        test = self._current_test
        if test and level in self.tests[test]:
            self.tests[test][level] += 1
        if level == LogLevel.FAILURE:
            self.failed = True
        if message is None or message == '':
            return
        if type(message) is not str:
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
            now = datetime.now(UTC)  # timezone.now() with USE_TZ, which NetBox always sets, less a settings lookup
            entry = LogEntry._make((level, message, now, '', '', '', None, test or '', now.isoformat()))
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
        data_root = loaded_from(type(self), 'data_root')
        if not data_root:
            raise FileNotFoundError(_('This script module has no directory to read data files from.'))
        filename = str(filename)
        if os.path.isabs(filename) or '\x00' in filename:
            raise PermissionError(_('Data file {name!r}: absolute paths are not allowed.').format(name=filename))
        root = os.path.realpath(data_root)
        path = os.path.realpath(os.path.join(root, loaded_from(type(self), 'module_dir', ''), filename))
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


def report_test_names(cls):
    """The report-style test_* methods, in name order (as NetBox runs them); BaseScript's own are not tests."""
    return [
        name for name in sorted(dir(cls))
        if name.startswith('test_') and not hasattr(BaseScript, name) and callable(getattr(cls, name))
    ]
