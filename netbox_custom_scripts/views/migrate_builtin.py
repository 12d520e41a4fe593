"""
The "Move from built-in scripts" page (Modules menu): the plan as a table, Apply as a background job with a
progress page, Verify, then Cleanup. Everything needs may_migrate() (superusers, or the `migrate` action on script
modules); the same rules as `netbox custom_scripts migrate-builtin` and the REST endpoints.
"""
from core.choices import JobStatusChoices
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.generic import View
from utilities.views import ContentTypePermissionRequiredMixin

from ..migrate_builtin import MigrationRefused, build_plan, cleanup, may_migrate, verify
from ..migrate_builtin.job import MigrateBuiltinJob, MigrationBusy, active_migration_job, enqueue_apply, normalise_only

__all__ = (
    'MigrateBuiltinCleanupView',
    'MigrateBuiltinJobStatusView',
    'MigrateBuiltinJobView',
    'MigrateBuiltinVerifyView',
    'MigrateBuiltinView',
)

ACTION_COLORS = {
    'move': 'green', 'link': 'green', 'repoint': 'blue', 'copy': 'blue', 'already_done': 'secondary',
    'cannot_move': 'red',
}
CHECKBOX_VALUES = {'on': True, 'true': True, '1': True, 'off': False, 'false': False, '0': False, '': False}
# How many jobs of earlier applies the page lists.
RECENT_JOBS = 5


class MayMigrateMixin(ContentTypePermissionRequiredMixin):
    """Anonymous users are sent to log in; signed-in users who may not migrate get a 403."""

    def get_required_permission(self):
        return 'netbox_custom_scripts.migrate_scriptmodule'

    def has_permission(self):
        user = self.request.user
        return user.is_authenticated and may_migrate(user)


def _options(params):
    """(only, history) from the page's query or form; raises MigrationRefused with a message for bad values."""
    raw_only = (params.get('only') or '').strip()
    only = normalise_only(raw_only) if raw_only else None
    value = (params.get('history') or '').strip().lower()
    if value not in CHECKBOX_VALUES:
        raise MigrationRefused(_('"history" is on or off.'))
    return only, CHECKBOX_VALUES[value]


def _page_url(only=None, history=False):
    url = reverse('plugins:netbox_custom_scripts:migrate_builtin')
    query = {key: value for key, value in (('only', ','.join(only or ())), ('history', 'on' if history else ''))
             if value}
    return f'{url}?{urlencode(query)}' if query else url


def _job_context(job):
    data = job.data or {}
    progress = data.get('progress') or {}
    total, done = progress.get('total') or 0, progress.get('done') or 0
    result = data.get('result')
    return {
        'job': job,
        'is_active': job.status in JobStatusChoices.ENQUEUED_STATE_CHOICES,
        'progress': progress,
        'percent': int(100 * done / total) if total else 0,
        'result': result,
        'failed': sorted((result.get('failed') or {}).items()) if result else [],
        'log_entries': job.log_entries or [],
        'only': data.get('only'),
        'history': data.get('history'),
    }


class MigrateBuiltinView(MayMigrateMixin, View):
    """GET: the plan (`?only=a,b`, `?history=on`); POST: queue the apply and go to its progress page."""
    template_name = 'netbox_custom_scripts/migrate_builtin/plan.html'

    def get(self, request):
        plan = error = None
        only, history = None, False
        try:
            only, history = _options(request.GET)
            plan = build_plan(only=only, history=history).to_dict()
        except MigrationRefused as exc:
            error = str(exc)
        items = plan['items'] if plan else []
        return render(request, self.template_name, {
            'plan': plan,
            'items': [{**item, 'color': ACTION_COLORS.get(item['action'], 'secondary')} for item in items],
            'blocked': sum(1 for item in items if item['action'] == 'cannot_move'),
            'error': error,
            'only': ','.join(only or ()) if not error else request.GET.get('only', '')[:2000],
            'history': history,
            'active_job': active_migration_job(end_dead=False),
            'recent_jobs': MigrateBuiltinJob.get_jobs().order_by('-pk')[:RECENT_JOBS],
            'action_colors': ACTION_COLORS,
        })

    def post(self, request):
        try:
            only, history = _options(request.POST)
            job = enqueue_apply(request.user, only=only, history=history)
        except MigrationBusy as exc:
            messages.warning(request, str(exc))
            busy = active_migration_job()
            return redirect(reverse('plugins:netbox_custom_scripts:migrate_builtin_job', kwargs={'pk': busy.pk})
                            if busy else _page_url())
        except MigrationRefused as exc:
            messages.error(request, _('Nothing was queued: {error}').format(error=exc))
            return redirect(_page_url())
        except PermissionDenied as exc:  # the right was withdrawn between the check above and now
            messages.error(request, str(exc))
            return redirect(_page_url())
        messages.success(request, _('Queued job #{id} to move the built-in scripts.').format(id=job.pk))
        return redirect(reverse('plugins:netbox_custom_scripts:migrate_builtin_job', kwargs={'pk': job.pk}))


class MigrateBuiltinJobView(MayMigrateMixin, View):
    """The progress of an apply, polled while it runs, and its result when done."""

    def get(self, request, pk):
        job = get_object_or_404(MigrateBuiltinJob.get_jobs(), pk=pk)
        return render(request, 'netbox_custom_scripts/migrate_builtin/job.html', _job_context(job))


class MigrateBuiltinJobStatusView(MayMigrateMixin, View):
    """HTMX partial of the progress page."""

    def get(self, request, pk):
        job = get_object_or_404(MigrateBuiltinJob.get_jobs(), pk=pk)
        return render(request, 'netbox_custom_scripts/migrate_builtin/htmx/job_status.html', _job_context(job))


class MigrateBuiltinVerifyView(MayMigrateMixin, View):
    """Check every built-in item against its counterpart; Cleanup is offered only when nothing is missing."""

    def get(self, request):
        report = verify().to_dict()
        return render(request, 'netbox_custom_scripts/migrate_builtin/verify.html', {
            'report': report,
            'active_job': active_migration_job(end_dead=False),
        })


class MigrateBuiltinCleanupView(MayMigrateMixin, View):
    """Remove what the apply disabled (POST only). The core refuses it unless verify passes."""

    def get(self, request):
        return redirect('plugins:netbox_custom_scripts:migrate_builtin_verify')

    def post(self, request):
        busy = active_migration_job()
        if busy is not None:
            messages.error(request, _('Job #{job} is still moving the built-in scripts; clean up after it finished.')
                           .format(job=busy.pk))
            return redirect('plugins:netbox_custom_scripts:migrate_builtin_verify')
        try:
            discard_history = CHECKBOX_VALUES.get((request.POST.get('discard_history') or '').strip().lower())
            if discard_history is None:
                raise MigrationRefused(_('"discard_history" is on or off.'))
            done = cleanup(request.user, discard_history=discard_history).to_dict()
        except MigrationRefused as exc:
            messages.error(request, _('Cleanup refused: {error}').format(error=exc))
            return redirect('plugins:netbox_custom_scripts:migrate_builtin_verify')
        summary = ', '.join(f'{key}: {value if not isinstance(value, (list, dict)) else len(value)}'
                            for key, value in done.items())
        messages.success(request, _('Cleanup done. {summary}').format(summary=summary or _('Nothing to remove.')))
        return redirect('plugins:netbox_custom_scripts:migrate_builtin')
