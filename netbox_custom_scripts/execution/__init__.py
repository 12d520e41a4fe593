"""
The execution core's front door. Adapters (views, forms, the REST API, GraphQL, the CLI, event rules, jobs, the
built-in migration) import what they need from here and from nowhere else in the core; modules inside the core
import each other directly, never this one. tests/test_architecture.py holds both rules.

Starting runs: build a RunRequest and submit() it. submit_run() and rerun() are the same for Python callers.
"""
from . import receivers  # noqa: F401  (connects every signal receiver of the plugin, once)
from .approvals import approve_run, may_review, reject_run
from .branches import branch_url, current_branch, exempt_plugin_models, find_branch, merge_url
from .branches import installed as branching_installed
from .changes import change_logging
from .dispatch import cancel_run, check_run_permission, record_refused_run
from .errors import InputError, PermissionDenied, RateLimited, RunRefused
from .health import companion_tests
from .inputs import (
    SECRET_MASK,
    ScriptInputForm,
    build_form,
    form_initial_from_inputs,
    secret_field,
    summarised_inputs,
    visible_variables,
)
from .interrupts import hard_stop_exit
from .loader import (
    ModuleLoadError,
    PendingSource,
    clear_cache,
    forget,
    get_script_class,
    import_module_source,
    pending_sources,
)
from .policy import check_unattended_commit
from .python_api import run_script, run_script_in_transaction
from .queueing import enqueue_directory_sync, enqueue_job, enqueue_revision_activation, identity_only
from .request import ACTIVE_BRANCH, RunOption, RunRequest, resolve_commit, run_options
from .rule_owners import RUN_SCRIPT_ACTION, rule_owner, saving_user
from .schedules import (
    check_schedule_settings,
    create_schedule,
    pause_schedule,
    resume_schedule,
    schedule_branch,
    update_schedule,
)
from .sources.data_file import activate_pending_revision, prepare_data_file, register_data_file
from .sources.directory import clear_fingerprints, sync_directory
from .sources.names import upload_path
from .sources.prepare import authoriser, check_syntax
from .sources.registry import may_change, save_source
from .sources.upload import check_replaceable, prepare_upload, register_upload, replace_source
from .submission import submit
from .watchdog import reap_stale_runs
from .worker import ActivateRevisionJob, RunScriptJob, SyncModulesJob, set_in_process_hard_stop

__all__ = (
    'ACTIVE_BRANCH',
    'ActivateRevisionJob',
    'InputError',
    'ModuleLoadError',
    'PendingSource',
    'PermissionDenied',
    'RUN_SCRIPT_ACTION',
    'RateLimited',
    'RunRefused',
    'RunOption',
    'RunRequest',
    'RunScriptJob',
    'SECRET_MASK',
    'ScriptInputForm',
    'SyncModulesJob',
    'activate_pending_revision',
    'approve_run',
    'authoriser',
    'branch_url',
    'branching_installed',
    'build_form',
    'cancel_run',
    'change_logging',
    'check_replaceable',
    'check_run_permission',
    'check_schedule_settings',
    'check_syntax',
    'check_unattended_commit',
    'clear_caches',
    'companion_tests',
    'create_schedule',
    'current_branch',
    'exempt_plugin_models',
    'enqueue_directory_sync',
    'enqueue_job',
    'enqueue_revision_activation',
    'find_branch',
    'forget',
    'form_initial_from_inputs',
    'get_script_class',
    'hard_stop_exit',
    'identity_only',
    'import_module_source',
    'may_change',
    'merge_url',
    'may_review',
    'pause_schedule',
    'pending_sources',
    'prepare_data_file',
    'prepare_upload',
    'reap_stale_runs',
    'record_refused_run',
    'register_data_file',
    'register_upload',
    'reject_run',
    'replace_source',
    'rerun',
    'resolve_commit',
    'resume_schedule',
    'rule_owner',
    'run_options',
    'run_script',
    'run_script_in_transaction',
    'save_source',
    'saving_user',
    'schedule_branch',
    'secret_field',
    'set_in_process_hard_stop',
    'submit',
    'submit_run',
    'summarised_inputs',
    'sync_directory',
    'update_schedule',
    'upload_path',
    'visible_variables',
)


def submit_run(script, **fields):
    """submit(RunRequest(script=script, **fields)): for Python callers that start one run."""
    return submit(RunRequest(script=script, **fields))


def rerun(run, **fields):
    """Start `run` again (see dispatch.as_repeat()): its inputs, plus what `fields` change."""
    return submit(RunRequest(script=run.script, rerun_of=run, **fields))


def clear_caches():
    """Forget what this process imported and synced (tests start each case from the database alone)."""
    clear_cache()
    clear_fingerprints()
