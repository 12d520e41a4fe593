from collections import defaultdict

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.generic import View
from netbox.object_actions import BulkDelete, BulkExport, DeleteObject
from netbox.views import generic
from utilities.views import ViewTab, register_model_view

from .. import filtersets, tables
from ..choices import LogLevelChoices, RunSourceChoices
from ..execution import (
    InputError,
    RunRefused,
    approve_run,
    branch_url,
    cancel_run,
    may_review,
    merge_url,
    reject_run,
    rerun,
)
from ..forms import ScriptRunFilterForm
from ..forms.errors import show_error
from ..models import RunLog, ScriptRun
from ..scripting.log import LOG_LEVELS
from ..text import is_whole_number

__all__ = (
    'ScriptRunBulkDeleteView',
    'ScriptRunCancelView',
    'ScriptRunChangesView',
    'ScriptRunDeleteView',
    'ScriptRunFileView',
    'ScriptRunFilesView',
    'ScriptRunListView',
    'ScriptRunLogView',
    'ScriptRunOutputView',
    'ScriptRunRerunView',
    'ScriptRunReviewView',
    'ScriptRunStatusView',
    'ScriptRunView',
)

LOG_PAGE_SIZE = 100
CHANGES_PAGE_SIZE = 100
MAX_LOG_PAGE_SIZE = 1000
# What the re-run form's `commit` may say.
COMMIT_VALUES = {'1': True, 'true': True, 'on': True, '0': False, 'false': False, 'off': False}


def runs_for(request, action='view'):
    return ScriptRun.objects.restrict(request.user, action)


@register_model_view(ScriptRun, 'list', path='', detail=False)
class ScriptRunListView(generic.ObjectListView):
    queryset = ScriptRun.objects.select_related('user', 'script')
    filterset = filtersets.ScriptRunFilterSet
    filterset_form = ScriptRunFilterForm
    table = tables.ScriptRunTable
    actions = (BulkExport, BulkDelete)


@register_model_view(ScriptRun)
class ScriptRunView(generic.ObjectView):
    queryset = ScriptRun.objects.select_related('script__module', 'revision', 'user', 'rerun_of', 'schedule')
    template_name = 'netbox_custom_scripts/scriptrun.html'
    actions = (DeleteObject,)

    def get_extra_context(self, request, instance):
        return {
            'can_cancel': (instance.is_active or instance.awaiting_approval) and request.user.has_perm(
                'netbox_custom_scripts.cancel_scriptrun', instance
            ),
            'can_review': instance.awaiting_approval and may_review(instance, request.user),
            'approved_run': ScriptRun.objects.filter(approval_of=instance.pk).first() if instance.reviewed else None,
            # Imported runs (from built-in scripts) kept no inputs: nothing to run again.
            'can_run': instance.script is not None and instance.source != RunSourceChoices.IMPORTED
            and request.user.has_perm('netbox_custom_scripts.run_script', instance.script),
            'log_levels': LogLevelChoices,
            'branch_url': branch_url(instance),
            'merge_url': merge_url(instance, request.user),
        }


def existing_objects(entries):
    """(object_type_id, object_id) of the entries' objects that still exist: a dry run's new objects never did."""
    wanted = defaultdict(set)
    for entry in entries:
        if entry.object_type_id and entry.object_id:
            wanted[entry.object_type_id].add(entry.object_id)
    found = set()
    for type_id, ids in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if model is not None:
            found.update((type_id, pk) for pk in model.objects.filter(pk__in=ids).values_list('pk', flat=True))
    return found


class RunLookupMixin:
    """Views of one run (its HTMX partials, file, cancel, re-run and review): the run, if the user may view it."""

    def get_run(self, request, pk):
        return get_object_or_404(runs_for(request), pk=pk)


@register_model_view(ScriptRun, 'status', path='status')
class ScriptRunStatusView(RunLookupMixin, View):
    def get(self, request, pk):
        run = self.get_run(request, pk)
        response = render(request, 'netbox_custom_scripts/htmx/run_status.html', {'object': run})
        if request.GET.get('live') and not run.is_active:
            # The run ended while the page was open: reload it, for the full log and the buttons of a finished run.
            response['HX-Refresh'] = 'true'
        return response


@register_model_view(ScriptRun, 'log', path='log')
class ScriptRunLogView(RunLookupMixin, View):
    """One page of the log, filtered by minimum level and text, paginated on the server."""

    def get(self, request, pk):
        run = self.get_run(request, pk)
        level = request.GET.get('level') or ''
        level = level if level in LOG_LEVELS else ''
        query = (request.GET.get('q') or '').replace('\x00', '').strip()
        entries = RunLog(run.pk, min_level=level, query=query)
        per_page = request.GET.get('per_page', '')
        per_page = min(int(per_page), MAX_LOG_PAGE_SIZE) if is_whole_number(per_page) else 0
        per_page = per_page or LOG_PAGE_SIZE
        paginator = Paginator(entries, per_page)
        page_number = request.GET.get('page') or ('last' if run.is_active else 1)
        page = paginator.get_page(paginator.num_pages if page_number == 'last' else page_number)
        return render(request, 'netbox_custom_scripts/htmx/run_log.html', {
            'object': run, 'page': page, 'level': level, 'q': query, 'levels': LOG_LEVELS,
            'following': page_number == 'last' and run.is_active,
            'per_page': per_page,
            'linkable': existing_objects(page.object_list),
        })


@register_model_view(ScriptRun, 'changes', path='changes')
class ScriptRunChangesView(generic.ObjectView):
    queryset = ScriptRun.objects.all()
    actions = (DeleteObject,)
    template_name = 'netbox_custom_scripts/scriptrun/changes.html'
    tab = ViewTab(label=_('Changes'), badge=lambda run: run.change_count, weight=500)

    def get_extra_context(self, request, instance):
        changes = instance.changes.select_related('object_type').order_by('id')
        page = Paginator(changes, CHANGES_PAGE_SIZE).get_page(request.GET.get('page'))
        return {'changes': page.object_list, 'page': page, 'linkable': existing_objects(page.object_list)}


@register_model_view(ScriptRun, 'output', path='output')
class ScriptRunOutputView(generic.ObjectView):
    queryset = ScriptRun.objects.all()
    actions = (DeleteObject,)
    template_name = 'netbox_custom_scripts/scriptrun/output.html'
    tab = ViewTab(label=_('Output'), visible=lambda run: bool(run.output), weight=510)

    def get(self, request, **kwargs):
        if request.GET.get('export'):
            run = get_object_or_404(self.queryset.restrict(request.user, 'view'), **kwargs)
            extension = 'json' if run.output_format == 'json' else 'txt'
            content_type = 'application/json' if run.output_format == 'json' else 'text/plain; charset=utf-8'
            response = HttpResponse(run.output, content_type=content_type)
            response['Content-Disposition'] = f'attachment; filename="run-{run.pk}-output.{extension}"'
            return response
        return super().get(request, **kwargs)


@register_model_view(ScriptRun, 'files', path='files')
class ScriptRunFilesView(generic.ObjectView):
    queryset = ScriptRun.objects.all()
    actions = (DeleteObject,)
    template_name = 'netbox_custom_scripts/scriptrun/files.html'
    tab = ViewTab(label=_('Files'), badge=lambda run: run.files.count(), hide_if_empty=True, weight=520)

    def get_extra_context(self, request, instance):
        return {'files': instance.files.defer('content')}


@register_model_view(ScriptRun, 'file', path='files/<int:file_pk>')
class ScriptRunFileView(RunLookupMixin, View):
    def get(self, request, pk, file_pk):
        run = self.get_run(request, pk)
        attachment = run.files.filter(pk=file_pk).first()
        if attachment is None:
            raise Http404
        response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
        response['Content-Disposition'] = 'attachment; filename="{}"'.format(attachment.name.replace('"', ''))
        response['X-Content-Type-Options'] = 'nosniff'
        return response


@register_model_view(ScriptRun, 'cancel', path='cancel')
class ScriptRunCancelView(RunLookupMixin, View):
    def post(self, request, pk):
        run = get_object_or_404(runs_for(request, 'cancel'), pk=pk)
        try:
            cancel_run(run, request.user)
            messages.success(request, _('Cancel requested for run #{run}.').format(run=run.pk))
        except RunRefused as exc:
            messages.warning(request, str(exc))
        return redirect(run.get_absolute_url())


@register_model_view(ScriptRun, 'rerun', path='rerun')
class ScriptRunRerunView(RunLookupMixin, View):
    """Run again with the same inputs; `commit=1` applies a reviewed dry run."""

    def post(self, request, pk):
        run = self.get_run(request, pk)
        value = request.POST.get('commit')
        if value is not None and value.strip().lower() not in COMMIT_VALUES:
            # Never guessed: a value that is not plainly yes or no runs nothing.
            messages.error(request, _('"commit" must be 1/true or 0/false, not {value!r}; nothing was run.').format(
                value=value[:50]
            ))
            return redirect(run.get_absolute_url())
        commit = None if value is None else COMMIT_VALUES[value.strip().lower()]
        try:
            new_run = rerun(run, user=request.user, source=RunSourceChoices.UI, commit=commit, http_request=request)
        except InputError as exc:
            messages.error(request, _('Run again from the form: {errors}').format(
                errors='; '.join(f'{k}: {" ".join(v)}' for k, v in exc.message_dict.items())
            ))
            if run.script:
                return redirect(f'{run.script.get_absolute_url()}?rerun={run.pk}')
            return redirect(run.get_absolute_url())
        except RunRefused as exc:
            messages.error(request, str(exc))
            return redirect(run.get_absolute_url())
        return redirect(new_run.get_absolute_url())


@register_model_view(ScriptRun, 'review', path='review')
class ScriptRunReviewView(RunLookupMixin, View):
    """Approve (starting the committed run) or reject, with a comment, a run awaiting approval."""

    def post(self, request, pk):
        run = self.get_run(request, pk)
        decision = request.POST.get('decision')
        comment = request.POST.get('comment', '')[:2000]
        try:
            if decision == 'approve':
                committed = approve_run(run, request.user, comment, http_request=request)
                messages.success(request, _('Approved; run #{run} commits the changes.').format(run=committed.pk))
                return redirect(committed.get_absolute_url())
            if decision == 'reject':
                reject_run(run, request.user, comment)
                messages.success(request, _('Rejected run #{run}.').format(run=run.pk))
            else:
                messages.error(request, _('Choose to approve or to reject.'))
        except (PermissionDenied, RunRefused, InputError) as exc:
            show_error(request, exc)
        return redirect(run.get_absolute_url())


@register_model_view(ScriptRun, 'delete')
class ScriptRunDeleteView(generic.ObjectDeleteView):
    queryset = ScriptRun.objects.all()


@register_model_view(ScriptRun, 'bulk_delete', path='delete', detail=False)
class ScriptRunBulkDeleteView(generic.BulkDeleteView):
    queryset = ScriptRun.objects.all()
    filterset = filtersets.ScriptRunFilterSet
    table = tables.ScriptRunTable

