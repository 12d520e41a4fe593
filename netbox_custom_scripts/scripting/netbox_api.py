"""
The public API of NetBox's built-in `Script` that script authors call, on the plugin's Script: `as_form()` (in their
unit tests), `source`, `filename`, `findsource()`, `root_module()`, `get_job_data()` and `self.messages`
(filled by `_log`), with NetBox's signatures and behaviour. NetBox reads a script's source from its `scripts` storage;
the plugin keeps module code in the database, so the source is the module revision the class was loaded from.
"""
import inspect
import re

from django.utils.functional import lazy

__all__ = (
    'NetBoxScriptAPI',
    'SOURCE_ATTRIBUTE',
    'get_module_and_script',
    'services',
)


class _Services:
    """
    What the authoring API needs from the rest of the plugin, installed by the plugin's ready() (see
    scripting_services.py), so that this package imports nothing of ours: the records of a module and its script,
    and a script's run form.
    """
    module_and_script = None
    run_form = None

    def require(self, name):
        service = getattr(self, name)
        if service is None:
            raise RuntimeError(f'{name}() needs the netbox_custom_scripts plugin to be loaded (it is not, here).')
        return service


services = _Services()

# Set by the loader on every class a module defines: the source of the revision it was executed from.
SOURCE_ATTRIBUTE = '__custom_scripts_source__'

def _resolved_url(obj):
    try:
        return obj.get_absolute_url() or ''
    except Exception:  # no detail view: the line keeps its object, without a link
        return ''


# A model instance's URL needs NetBox's URL configuration, which a run from the CLI must not load: it is resolved
# when the script reads it (format(self.messages), say), not when it logs.
_lazy_url = lazy(_resolved_url, str)


def _message_url(obj):
    """What NetBox puts in a log message's `url`: the object's get_absolute_url(), None when it has none."""
    if obj is None or not hasattr(obj, 'get_absolute_url'):
        return None
    if getattr(obj, '_meta', None) is not None:
        return _lazy_url(obj)
    return _resolved_url(obj)


def get_module_and_script(module_name, script_name):
    """
    (ScriptModule, Script) records of the plugin for the module `module_name` and its script class `script_name`,
    as NetBox's function returns its own; raises the model's DoesNotExist when either is missing.
    """
    return services.require('module_and_script')(module_name, script_name)


class NetBoxScriptAPI:
    """Mixed into BaseScript: what NetBox's built-in Script offers its authors besides variables and logging."""

    @classmethod
    def root_module(cls):
        """The top-level package of the script's module ('branches' for 'branches.sites')."""
        from .meta import script_module_name

        return script_module_name(cls).split('.')[0]

    @property
    def filename(self):
        """The file name of the script's module, as tracebacks show it."""
        return inspect.getfile(self.__class__)

    def findsource(self, object):
        """
        (lines, index of the line defining `object`) in the source of the module revision `object` was loaded
        from, as NetBox's Script.findsource() returns them. Raises OSError when the source is not available.
        """
        source = vars(object).get(SOURCE_ATTRIBUTE) if isinstance(object, type) else None
        if source is None:
            return inspect.findsource(object)  # a class defined in an ordinary file (a unit test, say)
        lines = source.splitlines(keepends=True)
        first = vars(object).get('__firstlineno__')
        if isinstance(first, int) and 0 < first <= len(lines):
            return lines, first - 1
        # Where Python does not record the line: the least indented `class <name>`, as NetBox finds it.
        pattern = re.compile(r'^(\s*)class\s*' + re.escape(object.__name__) + r'\b')
        candidates = [(match.group(1), index) for index, line in enumerate(lines) if (match := pattern.match(line))]
        if not candidates:
            raise OSError('could not find class definition')
        return lines, min(candidates)[1]

    @property
    def source(self):
        """The source of the script's class, '' when it cannot be found."""
        try:
            lines, index = self.findsource(self.__class__)
        except (OSError, TypeError):
            return ''
        return ''.join(inspect.getblock(lines[index:]))

    def get_job_data(self):
        """The run's results as NetBox attaches them to a script's job: log messages, output and test results."""
        return {
            'log': self.messages,
            'output': self.output,
            'tests': self.tests,
        }

    def as_form(self, data=None, files=None, initial=None):
        """
        The script's run form (its variables and the run options), bound to `data` and `files` when given: what
        NetBox's Script.as_form() returns, for unit tests of a script's inputs.
        """
        return services.require('run_form')(type(self), data, files, initial=initial)

    def _remember_message(self, entry, obj):
        """
        Keep a logged line in `self.messages` (or, inside a test_* method, in that test's `log`) as NetBox does, so
        a script may return or inspect its own log (`return format(self.messages)`).
        """
        if obj is None and not entry.test:
            self.messages.append({
                'time': entry.iso_time, 'status': entry.level, 'message': entry.message, 'obj': None,
                'url': None,
            })
            return
        url = _message_url(obj)
        object_repr = str(obj) if obj else None
        if entry.test:
            test = self.tests.get(entry.test)
            if test is not None:
                test.setdefault('log', []).append(
                    (entry.time.isoformat(), entry.level, object_repr, url, entry.message)
                )
            return
        self.messages.append({
            'time': entry.time.isoformat(),
            'status': entry.level,
            'message': entry.message,
            'obj': object_repr,
            'url': url,
        })

