"""
The permission matrix's data: for every page and every REST endpoint of the plugin, the requests to make and the
roles (see helpers.py) each must succeed for, with what an allowed request must show or do; and the enumeration of
the plugin's URL patterns that the matrix must cover. tests/security/test_permission_matrix.py runs it;
tests/security/test_csrf.py forges its POSTs.
"""
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.models import Job
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.models import Schedule, ScriptModule, ScriptRun

from .helpers import API, SMALL_MODULE, UI

NOBODY = frozenset()
A = frozenset({'admin'})
UA = frozenset({'runner', 'admin'})
VA = frozenset({'viewer', 'admin'})
EA = frozenset({'editor', 'admin'})
VUA = frozenset({'viewer', 'runner', 'admin'})
VEA = frozenset({'viewer', 'editor', 'admin'})
SIGNED_IN = frozenset({'viewer', 'runner', 'editor', 'admin'})


@dataclass(frozen=True)
class Case:
    method: str
    url: Callable[[Any], str]
    allowed: frozenset
    data: Callable[[Any], Any] | None = None
    # For an allowed write: does the world show what the request was to do? Called with (world, snapshot before).
    effect: Callable[[Any, dict], bool] | None = None
    # Markers (by role) an allowed page must show, and must not show.
    shows: dict = field(default_factory=dict)
    hides: dict = field(default_factory=dict)
    # Roles whose outcome is checked for safety only (see the module docstring).
    either: frozenset = NOBODY
    ok: tuple = ()
    # A page some views send a refused user back to, with an error message, instead of answering 403.
    bounce: Callable[[Any], str] | None = None

    def ok_statuses(self):
        if self.ok:
            return self.ok
        return (200,) if self.method == 'get' else (200, 201, 202, 204, 302)


def ui(path):
    return lambda w: f'{UI}/{path(w)}'


def api(path):
    return lambda w: f'{API}/{path(w)}'


def run_url(name):
    return lambda w: w.runs[name].get_absolute_url()


def api_run_url(name):
    return lambda w: f'/runs/{w.runs[name].pk}/'


def marker(name):
    return lambda w: w.markers[name]


def script_url(attr):
    return lambda w: getattr(w, attr).get_absolute_url()


def one_new_run(world, before):
    return ScriptRun.objects.count() == len(before['runs']) + 1


def run_gone(name):
    return lambda w, before: not ScriptRun.objects.filter(pk=w.runs[name].pk).exists()


def run_status(name, status):
    return lambda w, before: ScriptRun.objects.get(pk=w.runs[name].pk).status == status


def new_rerun_of(name, commit=None):
    def check(w, before):
        rerun = ScriptRun.objects.filter(rerun_of=w.runs[name]).order_by('-pk').first()
        return rerun is not None and (commit is None or rerun.commit is commit or rerun.approval_requested)
    return check


def schedule_enabled(attr, enabled):
    return lambda w, before: Schedule.objects.get(pk=getattr(w, attr).pk).enabled is enabled


def schedule_gone(w, before):
    return not Schedule.objects.filter(pk=w.schedule.pk).exists()


def schedule_description(value):
    return lambda w, before: Schedule.objects.get(pk=w.schedule.pk).description == value


def one_new_schedule(w, before):
    return Schedule.objects.count() == len(before['schedules']) + 1


def module_exists(name):
    return lambda w, before: ScriptModule.objects.filter(name=name).exists()


def module_gone(attr):
    return lambda w, before: not ScriptModule.objects.filter(pk=getattr(w, attr).pk).exists()


def module_description(value):
    return lambda w, before: ScriptModule.objects.get(pk=w.upload.pk).description == value


def data_module_resynced(w, before):
    previous = next(row[5] for row in before['modules'] if row[0] == w.data_module.pk)
    return ScriptModule.objects.get(pk=w.data_module.pk).data_synced > previous


def sync_job_queued(w, before):
    known = [pk for pk, __ in before['jobs']]
    return Job.objects.filter(name='Sync custom script modules').exclude(pk__in=known).exists()


def activation_job_queued(w, before):
    known = [pk for pk, __ in before['jobs']]
    return Job.objects.filter(name__endswith=f'of module {w.data_module.name}').exclude(pk__in=known).exists()


def migration_job_queued(w, before):
    known = [pk for pk, __ in before['jobs']]
    return Job.objects.filter(name='Move from built-in scripts').exclude(pk__in=known).exists()


def migration_job(w):
    """A finished apply job for the progress pages (made on first use; finished, so it never blocks an apply)."""
    job, __ = Job.objects.get_or_create(name='Move from built-in scripts', status='completed', defaults={
        'job_id': uuid.uuid4(), 'queue_name': 'default', 'data': {'only': None, 'history': False, 'result': None},
    })
    return job


def confirm(pks):
    return lambda w: {'pk': pks(w), '_confirm': 'true', 'confirm': 'true'}


def schedule_form(w, **changes):
    return {
        'name': 'matrix schedule', 'script': w.hello.pk, 'inputs': '{"who": "matrix"}', 'cron': '0 3 * * *',
        'notifications': 'always', **changes,
    }


RUN_PAGES = ('', 'changelog/', 'status/', 'log/', 'changes/', 'output/', 'files/')

#
# The web UI: route (relative to /plugins/custom-scripts/) -> cases
#

UI_MATRIX = {
    'scripts/': [
        Case('get', ui(lambda w: 'scripts/'), VUA,
             shows={'viewer': [script_url('hello'), script_url('count')], 'runner': [script_url('hello')]},
             hides={'runner': [script_url('count')]}),
    ],
    'scripts/<int:pk>/': [
        Case('get', script_url('hello'), VUA),
        Case('get', script_url('count'), VA),
        # The re-run pre-fill comes from runs the user may view only.
        Case('get', lambda w: f'{w.hello.get_absolute_url()}?rerun={w.runs["admin_hello"].pk}', VUA,
             shows={'admin': [marker('admin_hello')], 'viewer': [marker('admin_hello')]},
             hides={'runner': [marker('admin_hello')]}),
        Case('post', script_url('hello'), UA, data=lambda w: {'who': 'matrix'}, effect=one_new_run),
        Case('post', script_url('count'), A, data=lambda w: {'times': '1'}, effect=one_new_run),
    ],
    # A health check: the script's own tests, always rolled back; refusals come back to the script's page.
    'scripts/<int:pk>/test/': [
        Case('post', ui(lambda w: f'scripts/{w.tested.pk}/test/'), A, effect=one_new_run, bounce=script_url('tested')),
    ],
    'scripts/<int:pk>/source/': [
        Case('get', ui(lambda w: f'scripts/{w.hello.pk}/source/'), VUA),
        Case('get', ui(lambda w: f'scripts/{w.count.pk}/source/'), VA),
    ],
    'scripts/<int:pk>/runs/': [
        Case('get', ui(lambda w: f'scripts/{w.hello.pk}/runs/'), VUA,
             shows={'viewer': [run_url('admin_hello'), run_url('runner_hello')], 'runner': [run_url('runner_hello')]},
             hides={'runner': [run_url('admin_hello')]}),
        Case('get', ui(lambda w: f'scripts/{w.count.pk}/runs/'), VA),
    ],
    # Which jobs the tab lists is checked in test_permission_surfaces.py.
    'scripts/<int:pk>/jobs/': [
        Case('get', ui(lambda w: f'scripts/{w.hello.pk}/jobs/'), VUA),
        Case('get', ui(lambda w: f'scripts/{w.count.pk}/jobs/'), VA),
    ],
    'scripts/<int:pk>/journal/': [
        Case('get', ui(lambda w: f'scripts/{w.hello.pk}/journal/'), VUA),
        Case('get', ui(lambda w: f'scripts/{w.count.pk}/journal/'), VA),
    ],
    'scripts/<int:pk>/changelog/': [
        Case('get', ui(lambda w: f'scripts/{w.hello.pk}/changelog/'), VUA),
        Case('get', ui(lambda w: f'scripts/{w.count.pk}/changelog/'), VA),
    ],
    'runs/': [
        Case('get', ui(lambda w: 'runs/'), VUA,
             shows={'viewer': [run_url('admin_count'), run_url('runner_hello')], 'runner': [run_url('runner_hello')]},
             hides={'runner': [run_url('admin_count'), run_url('admin_hello'), run_url('admin_pending')]}),
    ],
    'runs/delete/': [
        Case('post', ui(lambda w: 'runs/delete/'), A, data=confirm(lambda w: [w.runs['admin_count'].pk]),
             effect=run_gone('admin_count')),
    ],
    **{
        f'runs/<int:pk>/{page}': [
            Case('get', ui(lambda w, page=page: f'runs/{w.runs["admin_count"].pk}/{page}'), VA,
                 shows={'admin': [marker('admin_count')]} if page in ('log/', 'changes/', 'output/', 'files/') else {}),
            Case('get', ui(lambda w, page=page: f'runs/{w.runs["runner_hello"].pk}/{page}'), VUA,
                 shows={'runner': [marker('runner_hello')]} if page in ('log/', 'changes/', 'files/') else {}),
        ] for page in RUN_PAGES
    },
    'runs/<int:pk>/files/<int:file_pk>/': [
        Case('get', ui(lambda w: f'runs/{w.runs["admin_count"].pk}/files/{w.file("admin_count").pk}/'), VA),
        Case('get', ui(lambda w: f'runs/{w.runs["runner_hello"].pk}/files/{w.file("runner_hello").pk}/'), VUA),
        # Another run's file through a run one may view: never (no object reference leaks across runs).
        Case('get', ui(lambda w: f'runs/{w.runs["runner_hello"].pk}/files/{w.file("admin_count").pk}/'), NOBODY),
    ],
    'runs/<int:pk>/cancel/': [
        Case('post', ui(lambda w: f'runs/{w.runs["admin_pending"].pk}/cancel/'), A,
             effect=run_status('admin_pending', RunStatusChoices.CANCELLED)),
    ],
    'runs/<int:pk>/rerun/': [
        Case('post', ui(lambda w: f'runs/{w.runs["runner_hello"].pk}/rerun/'), UA, effect=new_rerun_of('runner_hello')),
        # Apply: the same, committing.
        Case('post', ui(lambda w: f'runs/{w.runs["runner_hello"].pk}/rerun/'), UA, data=lambda w: {'commit': '1'},
             effect=new_rerun_of('runner_hello', commit=True)),
        Case('post', ui(lambda w: f'runs/{w.runs["admin_count"].pk}/rerun/'), A, effect=new_rerun_of('admin_count')),
    ],
    # Only someone else than the requester, with `approve` on the script (here the admin), decides.
    'runs/<int:pk>/review/': [
        Case('post', ui(lambda w: f'runs/{w.runs["runner_awaiting"].pk}/review/'), A,
             data=lambda w: {'decision': 'approve'}, effect=run_status('runner_awaiting', 'approved'),
             bounce=run_url('runner_awaiting')),
        Case('post', ui(lambda w: f'runs/{w.runs["runner_awaiting"].pk}/review/'), A,
             data=lambda w: {'decision': 'reject', 'comment': 'no'}, effect=run_status('runner_awaiting', 'rejected'),
             bounce=run_url('runner_awaiting')),
    ],
    'runs/<int:pk>/delete/': [
        Case('get', ui(lambda w: f'runs/{w.runs["admin_count"].pk}/delete/'), A),
        Case('post', ui(lambda w: f'runs/{w.runs["admin_count"].pk}/delete/'), A, data=lambda w: {'confirm': 'true'},
             effect=run_gone('admin_count')),
        Case('post', ui(lambda w: f'runs/{w.runs["runner_hello"].pk}/delete/'), A, data=lambda w: {'confirm': 'true'},
             effect=run_gone('runner_hello')),
    ],
    'schedules/': [
        Case('get', ui(lambda w: 'schedules/'), VA, shows={'viewer': [lambda w: w.schedule.get_absolute_url()]}),
    ],
    'schedules/add/': [
        Case('get', ui(lambda w: 'schedules/add/'), A),
        Case('post', ui(lambda w: 'schedules/add/'), A, data=schedule_form, effect=one_new_schedule),
    ],
    'schedules/delete/': [
        Case('post', ui(lambda w: 'schedules/delete/'), A, data=confirm(lambda w: [w.schedule.pk]),
             effect=schedule_gone),
    ],
    'schedules/<int:pk>/': [
        Case('get', lambda w: w.schedule.get_absolute_url(), VA),
    ],
    'schedules/<int:pk>/journal/': [
        Case('get', ui(lambda w: f'schedules/{w.schedule.pk}/journal/'), VA),
    ],
    'schedules/<int:pk>/changelog/': [
        Case('get', ui(lambda w: f'schedules/{w.schedule.pk}/changelog/'), VA),
    ],
    'schedules/<int:pk>/edit/': [
        Case('get', ui(lambda w: f'schedules/{w.schedule.pk}/edit/'), A),
        Case('post', ui(lambda w: f'schedules/{w.schedule.pk}/edit/'), A,
             data=lambda w: schedule_form(w, name=w.schedule.name, description='edited'),
             effect=schedule_description('edited')),
    ],
    'schedules/<int:pk>/delete/': [
        Case('get', ui(lambda w: f'schedules/{w.schedule.pk}/delete/'), A),
        Case('post', ui(lambda w: f'schedules/{w.schedule.pk}/delete/'), A, data=lambda w: {'confirm': 'true'},
             effect=schedule_gone),
    ],
    'schedules/<int:pk>/pause/': [
        Case('post', ui(lambda w: f'schedules/{w.schedule.pk}/pause/'), A, effect=schedule_enabled('schedule', False)),
    ],
    'schedules/<int:pk>/resume/': [
        Case('post', ui(lambda w: f'schedules/{w.paused_schedule.pk}/resume/'), A,
             effect=schedule_enabled('paused_schedule', True)),
    ],
    'modules/': [
        Case('get', ui(lambda w: 'modules/'), VEA, shows={'editor': [lambda w: w.upload.get_absolute_url()]}),
    ],
    'modules/add/': [
        Case('get', ui(lambda w: 'modules/add/'), EA),
        Case('post', ui(lambda w: 'modules/add/'), EA,
             data=lambda w: {'name': 'matrix_upload', 'source_code': SMALL_MODULE},
             effect=module_exists('matrix_upload')),
    ],
    'modules/add-from-data-source/': [
        Case('get', ui(lambda w: 'modules/add-from-data-source/'), EA),
        Case('post', ui(lambda w: 'modules/add-from-data-source/'), EA,
             data=lambda w: {'data_source': w.data_source.pk, 'data_file': w.spare_data_file.pk, 'name': 'ds_spare'},
             effect=module_exists('ds_spare')),
    ],
    'modules/delete/': [
        Case('post', ui(lambda w: 'modules/delete/'), EA, data=confirm(lambda w: [w.upload.pk]),
             effect=module_gone('upload')),
    ],
    'modules/sync/': [
        Case('get', ui(lambda w: 'modules/sync/'), A, ok=(302,)),
        Case('post', ui(lambda w: 'modules/sync/'), A, effect=sync_job_queued),
    ],
    'modules/<int:pk>/': [
        Case('get', lambda w: w.upload.get_absolute_url(), VEA, shows={'editor': ['class Small(Script)']}),
    ],
    'modules/<int:pk>/journal/': [
        Case('get', ui(lambda w: f'modules/{w.upload.pk}/journal/'), VEA),
    ],
    'modules/<int:pk>/changelog/': [
        Case('get', ui(lambda w: f'modules/{w.upload.pk}/changelog/'), VEA),
    ],
    'modules/<int:pk>/sync/': [
        Case('post', ui(lambda w: f'modules/{w.data_module.pk}/sync/'), A, effect=data_module_resynced),
    ],
    'modules/<int:pk>/activate/': [
        # Activating new code from a data source needs `change` on the module (code execution, like an edit).
        Case('post', ui(lambda w: f'modules/{w.data_module.pk}/activate/'), EA,
             data=lambda w: {'revision': w.data_module.pending_revision.number}, effect=activation_job_queued),
    ],
    'modules/<int:pk>/edit/': [
        Case('get', ui(lambda w: f'modules/{w.upload.pk}/edit/'), EA),
        Case('post', ui(lambda w: f'modules/{w.upload.pk}/edit/'), EA,
             data=lambda w: {'description': 'edited', 'source_code': SMALL_MODULE},
             effect=module_description('edited')),
    ],
    'modules/<int:pk>/revisions/': [
        Case('get', ui(lambda w: f'modules/{w.upload.pk}/revisions/'), VEA),
    ],
    'modules/<int:pk>/delete/': [
        Case('get', ui(lambda w: f'modules/{w.upload.pk}/delete/'), EA),
        Case('post', ui(lambda w: f'modules/{w.upload.pk}/delete/'), EA, data=lambda w: {'confirm': 'true'},
             effect=module_gone('upload')),
    ],
    # Moving the built-in scripts: superusers or the `migrate` action on modules (none of the roles but the admin).
    'modules/migrate-builtin/': [
        Case('get', ui(lambda w: 'modules/migrate-builtin/'), A, shows={'admin': ['id="migrate-summary"']}),
        Case('post', ui(lambda w: 'modules/migrate-builtin/'), A, effect=migration_job_queued),
    ],
    'modules/migrate-builtin/verify/': [
        Case('get', ui(lambda w: 'modules/migrate-builtin/verify/'), A,
             shows={'admin': ['id="migrate-verify-report"']}),
    ],
    'modules/migrate-builtin/cleanup/': [
        Case('get', ui(lambda w: 'modules/migrate-builtin/cleanup/'), A, ok=(302,)),
        Case('post', ui(lambda w: 'modules/migrate-builtin/cleanup/'), A, ok=(302,)),
    ],
    'modules/migrate-builtin/jobs/<int:pk>/': [
        Case('get', ui(lambda w: f'modules/migrate-builtin/jobs/{migration_job(w).pk}/'), A),
    ],
    'modules/migrate-builtin/jobs/<int:pk>/status/': [
        Case('get', ui(lambda w: f'modules/migrate-builtin/jobs/{migration_job(w).pk}/status/'), A),
    ],
}

#
# The REST API: (URL name, HTTP method) -> cases
#

RUN_ENDPOINTS = {
    'scriptrun-detail': '', 'scriptrun-log': 'log/', 'scriptrun-changes': 'changes/', 'scriptrun-files': 'files/',
    'scriptrun-output': 'output/',
}

API_MATRIX = {
    ('api-root', 'get'): [Case('get', api(lambda w: ''), SIGNED_IN)],
    ('script-list', 'get'): [
        Case('get', api(lambda w: 'scripts/'), VUA,
             shows={'viewer': ['basic.Hello', 'basic.Count'], 'runner': ['basic.Hello']},
             hides={'runner': ['basic.Count']}),
    ],
    ('script-detail', 'get'): [
        Case('get', api(lambda w: f'scripts/{w.hello.pk}/'), VUA),
        Case('get', api(lambda w: f'scripts/{w.count.pk}/'), VA),
        Case('get', api(lambda w: 'scripts/basic.Count/'), VA),
    ],
    ('script-test', 'post'): [
        Case('post', api(lambda w: f'scripts/{w.tested.pk}/test/'), A, effect=one_new_run),
    ],
    ('script-run', 'post'): [
        Case('post', api(lambda w: 'scripts/basic.Hello/run/'), UA, data=lambda w: {'data': {'who': 'api'}},
             effect=one_new_run),
        Case('post', api(lambda w: f'scripts/{w.count.pk}/run/'), A, data=lambda w: {'data': {'times': 1}},
             effect=one_new_run),
    ],
    ('scriptrun-list', 'get'): [
        Case('get', api(lambda w: 'runs/'), VUA,
             shows={'viewer': [api_run_url('admin_count'), api_run_url('runner_hello')],
                    'runner': [api_run_url('runner_hello')]},
             hides={'runner': [api_run_url('admin_count'), api_run_url('admin_hello')]}),
    ],
    **{
        (name, 'get'): [
            Case('get', api(lambda w, page=page: f'runs/{w.runs["admin_count"].pk}/{page}'), VA,
                 shows={'viewer': [marker('admin_count')]} if page != 'files/' else {}),
            Case('get', api(lambda w, page=page: f'runs/{w.runs["runner_hello"].pk}/{page}'), VUA,
                 shows={'runner': [marker('runner_hello')]} if page != 'files/' else {}),
        ] for name, page in RUN_ENDPOINTS.items()
    },
    ('scriptrun-download', 'get'): [
        Case('get', api(lambda w: f'runs/{w.runs["admin_count"].pk}/download/?file={w.file("admin_count").pk}'), VA),
        Case('get', api(lambda w: f'runs/{w.runs["runner_hello"].pk}/download/?file={w.file("runner_hello").pk}'),
             VUA, shows={'runner': [marker('runner_hello')]}),
        Case('get', api(lambda w: f'runs/{w.runs["runner_hello"].pk}/download/?file={w.file("admin_count").pk}'),
             NOBODY),
    ],
    ('scriptrun-detail', 'delete'): [
        Case('delete', api(lambda w: f'runs/{w.runs["admin_count"].pk}/'), A, effect=run_gone('admin_count')),
        Case('delete', api(lambda w: f'runs/{w.runs["runner_hello"].pk}/'), A, effect=run_gone('runner_hello')),
    ],
    ('scriptrun-cancel', 'post'): [
        Case('post', api(lambda w: f'runs/{w.runs["admin_pending"].pk}/cancel/'), A,
             effect=run_status('admin_pending', RunStatusChoices.CANCELLED)),
    ],
    # The runner's own re-run and apply: documented as allowed, see test_permission_surfaces.py.
    ('scriptrun-rerun', 'post'): [
        Case('post', api(lambda w: f'runs/{w.runs["runner_hello"].pk}/rerun/'), A,
             effect=new_rerun_of('runner_hello'), either=frozenset({'runner'})),
        Case('post', api(lambda w: f'runs/{w.runs["admin_count"].pk}/rerun/'), A, effect=new_rerun_of('admin_count')),
    ],
    ('scriptrun-apply', 'post'): [
        Case('post', api(lambda w: f'runs/{w.runs["runner_hello"].pk}/apply/'), A,
             effect=new_rerun_of('runner_hello', commit=True), either=frozenset({'runner'})),
    ],
    ('scriptrun-approve', 'post'): [
        Case('post', api(lambda w: f'runs/{w.runs["runner_awaiting"].pk}/approve/'), A,
             effect=run_status('runner_awaiting', 'approved')),
    ],
    ('scriptrun-reject', 'post'): [
        Case('post', api(lambda w: f'runs/{w.runs["runner_awaiting"].pk}/reject/'), A,
             data=lambda w: {'comment': 'no'}, effect=run_status('runner_awaiting', 'rejected')),
    ],
    ('schedule-list', 'get'): [
        Case('get', api(lambda w: 'schedules/'), VA, shows={'viewer': ['sec nightly']}),
    ],
    ('schedule-list', 'post'): [
        Case('post', api(lambda w: 'schedules/'), A,
             data=lambda w: {'name': 'api schedule', 'script_id': w.hello.pk, 'cron': '0 3 * * *'},
             effect=one_new_schedule),
    ],
    ('schedule-list', 'put'): [
        Case('put', api(lambda w: 'schedules/'), A,
             data=lambda w: [{'id': w.schedule.pk, 'name': 'sec nightly', 'cron': '0 2 * * *', 'description': 'bulk'}],
             effect=schedule_description('bulk')),
    ],
    ('schedule-list', 'patch'): [
        Case('patch', api(lambda w: 'schedules/'), A, data=lambda w: [{'id': w.schedule.pk, 'description': 'bulk'}],
             effect=schedule_description('bulk')),
    ],
    ('schedule-list', 'delete'): [
        Case('delete', api(lambda w: 'schedules/'), A, data=lambda w: [{'id': w.schedule.pk}], effect=schedule_gone),
    ],
    ('schedule-detail', 'get'): [Case('get', api(lambda w: f'schedules/{w.schedule.pk}/'), VA)],
    ('schedule-detail', 'put'): [
        Case('put', api(lambda w: f'schedules/{w.schedule.pk}/'), A,
             data=lambda w: {'name': 'sec nightly', 'description': 'put', 'cron': '0 2 * * *'},
             effect=schedule_description('put')),
    ],
    ('schedule-detail', 'patch'): [
        Case('patch', api(lambda w: f'schedules/{w.schedule.pk}/'), A, data=lambda w: {'description': 'patched'},
             effect=schedule_description('patched')),
    ],
    ('schedule-detail', 'delete'): [
        Case('delete', api(lambda w: f'schedules/{w.schedule.pk}/'), A, effect=schedule_gone),
    ],
    ('schedule-pause', 'post'): [
        Case('post', api(lambda w: f'schedules/{w.schedule.pk}/pause/'), A, effect=schedule_enabled('schedule', False)),
    ],
    ('schedule-resume', 'post'): [
        Case('post', api(lambda w: f'schedules/{w.paused_schedule.pk}/resume/'), A,
             effect=schedule_enabled('paused_schedule', True)),
    ],
    ('scriptmodule-list', 'get'): [
        Case('get', api(lambda w: 'modules/'), VEA, shows={'editor': ['sec_upload']}),
    ],
    ('scriptmodule-list', 'post'): [
        Case('post', api(lambda w: 'modules/'), EA, data=lambda w: {'name': 'api_upload', 'source_code': SMALL_MODULE},
             effect=module_exists('api_upload')),
    ],
    ('scriptmodule-list', 'put'): [
        Case('put', api(lambda w: 'modules/'), EA, data=lambda w: [{'id': w.upload.pk, 'description': 'bulk'}],
             effect=module_description('bulk')),
    ],
    ('scriptmodule-list', 'patch'): [
        Case('patch', api(lambda w: 'modules/'), EA, data=lambda w: [{'id': w.upload.pk, 'description': 'bulk'}],
             effect=module_description('bulk')),
    ],
    ('scriptmodule-list', 'delete'): [
        Case('delete', api(lambda w: 'modules/'), EA, data=lambda w: [{'id': w.upload.pk}],
             effect=module_gone('upload')),
    ],
    ('scriptmodule-detail', 'get'): [Case('get', api(lambda w: f'modules/{w.upload.pk}/'), VEA)],
    ('scriptmodule-detail', 'put'): [
        Case('put', api(lambda w: f'modules/{w.upload.pk}/'), EA, data=lambda w: {'description': 'put'},
             effect=module_description('put')),
    ],
    ('scriptmodule-detail', 'patch'): [
        Case('patch', api(lambda w: f'modules/{w.upload.pk}/'), EA, data=lambda w: {'description': 'patched'},
             effect=module_description('patched')),
    ],
    ('scriptmodule-detail', 'delete'): [
        Case('delete', api(lambda w: f'modules/{w.upload.pk}/'), EA, effect=module_gone('upload')),
    ],
    ('scriptmodule-revisions', 'get'): [
        Case('get', api(lambda w: f'modules/{w.upload.pk}/revisions/'), VEA),
        Case('get', api(lambda w: f'modules/{w.upload.pk}/revisions/?number=1'), VEA,
             shows={'viewer': ['class Small']}),
    ],
    ('scriptmodule-sync', 'post'): [
        Case('post', api(lambda w: 'modules/sync/'), A, effect=sync_job_queued),
    ],
    ('scriptmodule-activate', 'post'): [
        Case('post', api(lambda w: f'modules/{w.data_module.pk}/activate/'), EA,
             data=lambda w: {'revision': w.data_module.pending_revision.number}, effect=activation_job_queued),
    ],
    ('migrate_builtin-list', 'get'): [
        Case('get', api(lambda w: 'migrate-builtin/'), A, shows={'admin': ['"can_apply"']}),
    ],
    ('migrate_builtin-list', 'post'): [
        Case('post', api(lambda w: 'migrate-builtin/'), A, data=lambda w: {}, effect=migration_job_queued),
    ],
    ('migrate_builtin-verify', 'get'): [
        Case('get', api(lambda w: 'migrate-builtin/verify/'), A, shows={'admin': ['"ok"']}),
    ],
    # The world has no built-in modules: the admin is let in and told there is nothing to clean up (409).
    ('migrate_builtin-cleanup', 'post'): [
        Case('post', api(lambda w: 'migrate-builtin/cleanup/'), A, ok=(409,)),
    ],
}


#
# Enumerating the plugin's URL patterns
#

def _walk(patterns, prefix='', namespace=''):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ':'.join(filter(None, (namespace, pattern.namespace)))
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern


def plugin_pages():
    """Routes of the plugin's web pages, relative to its base URL."""
    base = reverse('plugins:netbox_custom_scripts:script_list')[1:-len('scripts/')]
    return {
        route[len(base):] for route, namespace, __ in _walk(get_resolver().url_patterns)
        if namespace == 'plugins:netbox_custom_scripts'
    }


def plugin_endpoints():
    """(URL name, HTTP method) of every REST endpoint of the plugin (format-suffix variants are the same views)."""
    endpoints = set()
    for __, namespace, pattern in _walk(get_resolver().url_patterns):
        if namespace != 'plugins-api:netbox_custom_scripts-api':
            continue
        actions = getattr(pattern.callback, 'actions', None) or {'get': None}
        # DRF adds `head` (the GET handler) to a viewset's actions the first time the view is called.
        endpoints.update((pattern.name, method) for method in actions if method != 'head')
    return endpoints
