import importlib

from django.core.exceptions import ImproperlyConfigured
from netbox.plugins import PluginConfig

from .version import __version__


class CustomScriptsConfig(PluginConfig):
    name = 'netbox_custom_scripts'
    verbose_name = 'Custom Scripts'
    description = 'Custom scripts with typed inputs, live logs, dry-run diffs, run history, schedules and permissions'
    version = __version__
    author = 'netbox-custom-scripts developers'
    base_url = 'custom-scripts'
    # The list in graphql/schema.py (the default path would find the module `schema`, not the list in it).
    graphql_schema = 'graphql.schema.schema'
    # Keep in step with COMPATIBILITY.md.
    min_version = '4.7.0'
    max_version = '4.7.99'
    default_settings = {
        # Directory of script modules discovered from disk (None: disk discovery off). Files and packages below it
        # are registered as modules and re-synced when their content changes.
        'scripts_dir': None,
        # Minutes between reads of the scripts directory by a system job (None: only the Sync action and the CLI read
        # it). No page view reads it.
        'scripts_dir_sync_interval': 1,
        # RQ queue used by scripts that do not set Meta.queue.
        'default_queue': 'default',
        # Run time limit in seconds for scripts that do not set Meta.job_timeout (None: NetBox's RQ_DEFAULT_TIMEOUT).
        'default_job_timeout': None,
        # Largest accepted script module source, in bytes (uploads, disk files and data files alike).
        'max_module_size': 1024 * 1024,
        # Largest file a script may attach to its run with save_file(), in bytes.
        'max_file_size': 10 * 1024 * 1024,
        # Runs older than this many days are deleted by the housekeeping job (None: keep forever).
        'run_retention_days': 90,
        # True: committing a run needs the `commit` permission action; a user with only `run` may dry-run and submit
        # committed runs for approval. Meta.commit_requires_permission overrides it per script.
        'commit_requires_permission': False,
        # Most values a multiple-choice or multi-object variable accepts in one run (more is a clear 400).
        'max_multi_items': 10000,
        # Longest log line (in characters) a run keeps; longer ones are cut, saying how much was left out.
        'max_log_line_length': 100000,
        # Longest output (what run() returns, in characters) a run keeps; larger results belong in save_file().
        'max_output_size': 1024 * 1024,
        # Seconds a run may go on after its time limit passed or it was cancelled (a script that catches the
        # interruption) before it is stopped hard: its database session ended, its work-horse killed.
        'stop_grace_period': 10,
        # True: what NetBox tolerates in a script's Meta and variables (an unknown option, a field_order entry that
        # is not a variable, a class left out) stops the module at load, instead of being shown as a warning.
        'strict_meta': False,
    }

    def ready(self):
        super().ready()
        # Once, here: the system jobs, every signal receiver (importing the core connects them), the event types,
        # and what the authoring API asks of the rest of the plugin (it imports nothing of ours itself).
        from . import execution, jobs  # noqa: F401
        from .events import register_event_types
        from .scripting_services import install_scripting_services

        register_event_types()
        install_scripting_services()
        execution.exempt_plugin_models()  # netbox-branching: runs, logs and schedules always stay in main
        jobs.schedule_directory_sync()

    @classmethod
    def validate(cls, user_config, netbox_version):
        super().validate(user_config, netbox_version)
        validate_settings(user_config)


def validate_settings(settings):
    """Reject PLUGINS_CONFIG['netbox_custom_scripts'] values NetBox could not run with, naming the key to fix."""
    def fail(key, expected):
        raise ImproperlyConfigured(
            f"PLUGINS_CONFIG['netbox_custom_scripts']['{key}'] must be {expected} (found {settings[key]!r})."
        )

    unknown = sorted(set(settings) - set(CustomScriptsConfig.default_settings))
    if unknown:
        raise ImproperlyConfigured(
            f"PLUGINS_CONFIG['netbox_custom_scripts'] has unknown setting(s) {', '.join(unknown)}; "
            f"known settings are {', '.join(sorted(CustomScriptsConfig.default_settings))}."
        )
    scripts_dir = settings['scripts_dir']
    if scripts_dir is not None and not (isinstance(scripts_dir, str) and scripts_dir):
        fail('scripts_dir', 'a directory path or None')
    if not isinstance(settings['default_queue'], str) or not settings['default_queue']:
        fail('default_queue', 'the name of an RQ queue')
    for key in ('default_job_timeout', 'run_retention_days', 'scripts_dir_sync_interval'):
        value = settings[key]
        if value is not None and (type(value) is not int or value < 1):
            fail(key, 'a positive integer or None')
    for key in ('commit_requires_permission', 'strict_meta'):
        if not isinstance(settings[key], bool):
            fail(key, 'True or False')
    for key in ('max_module_size', 'max_file_size'):
        if type(settings[key]) is not int or settings[key] < 1:
            fail(key, 'a positive integer (bytes)')
    for key in ('max_multi_items', 'max_log_line_length', 'max_output_size'):
        if type(settings[key]) is not int or settings[key] < 1:
            fail(key, 'a positive integer')
    if type(settings['stop_grace_period']) is not int or not 1 <= settings['stop_grace_period'] <= 3600:
        fail('stop_grace_period', 'a whole number of seconds from 1 to 3600')


config = CustomScriptsConfig


def __getattr__(name):
    # `from netbox_custom_scripts import Script, StringVar, ...`: the authoring API, imported on first use because
    # this module is imported while Django's settings load, before form fields can be.
    if name.startswith('_') or name == 'scripting':
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    if name == 'run_script':  # for nbshell: `from netbox_custom_scripts import run_script`
        return importlib.import_module(f'{__name__}.execution').run_script
    scripting = importlib.import_module(f'{__name__}.scripting')
    if name in scripting.__all__:
        return getattr(scripting, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
