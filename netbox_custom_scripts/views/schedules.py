from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.generic import View
from netbox.object_actions import AddObject, BulkDelete, BulkExport, DeleteObject, EditObject
from netbox.ui import attrs, layout, panels
from netbox.views import generic
from utilities.views import ConditionalLoginRequiredMixin, register_model_view

from .. import filtersets, forms, tables
from ..execution import RunRefused, pause_schedule, resume_schedule
from ..forms.errors import show_error
from ..models import Schedule

__all__ = (
    'ScheduleBulkDeleteView',
    'ScheduleDeleteView',
    'ScheduleEditView',
    'ScheduleListView',
    'SchedulePauseView',
    'ScheduleResumeView',
    'ScheduleView',
)


class SchedulePanel(panels.ObjectAttributesPanel):
    title = _('Schedule')
    name = attrs.TextAttr('name')
    script = attrs.RelatedObjectAttr('script', linkify=True)
    user = attrs.TextAttr('user', label=_('Runs as'))
    enabled = attrs.BooleanAttr('enabled')
    health_check = attrs.BooleanAttr('health_check', label=_('Health check'))
    commit = attrs.BooleanAttr('commit')
    start_at = attrs.DateTimeAttr('start_at', label=_('Start at'))
    interval = attrs.NumericAttr('interval', label=_('Interval (minutes)'))
    cron = attrs.TextAttr('cron', style='font-monospace')
    next_run_at = attrs.DateTimeAttr('next_run_at', label=_('Next run'))
    error = attrs.TextAttr('error')
    description = attrs.TextAttr('description')


@register_model_view(Schedule, 'list', path='', detail=False)
class ScheduleListView(generic.ObjectListView):
    queryset = Schedule.objects.select_related('script', 'user')
    filterset = filtersets.ScheduleFilterSet
    filterset_form = forms.ScheduleFilterForm
    table = tables.ScheduleTable
    actions = (AddObject, BulkExport, BulkDelete)


@register_model_view(Schedule)
class ScheduleView(generic.ObjectView):
    queryset = Schedule.objects.select_related('script__module', 'user')
    template_name = 'netbox_custom_scripts/schedule.html'
    actions = (EditObject, DeleteObject)
    layout = layout.SimpleLayout(
        left_panels=[SchedulePanel()],
        right_panels=[panels.JSONPanel('inputs', title=_('Inputs'))],
        bottom_panels=[
            panels.ObjectsTablePanel(
                model='netbox_custom_scripts.ScriptRun',
                title=_('Runs'),
                filters={'schedule_id': lambda ctx: ctx['object'].pk},
            ),
        ],
    )


@register_model_view(Schedule, 'add', detail=False)
@register_model_view(Schedule, 'edit')
class ScheduleEditView(generic.ObjectEditView):
    queryset = Schedule.objects.all()
    form = forms.ScheduleForm

    def alter_object(self, obj, request, url_args, url_kwargs):
        obj._editing_user = request.user
        return obj


@register_model_view(Schedule, 'delete')
class ScheduleDeleteView(generic.ObjectDeleteView):
    queryset = Schedule.objects.all()


@register_model_view(Schedule, 'bulk_delete', path='delete', detail=False)
class ScheduleBulkDeleteView(generic.BulkDeleteView):
    queryset = Schedule.objects.all()
    filterset = filtersets.ScheduleFilterSet
    table = tables.ScheduleTable


class _ScheduleToggleView(ConditionalLoginRequiredMixin, View):
    def post(self, request, pk):
        schedule = get_object_or_404(Schedule.objects.restrict(request.user, 'change'), pk=pk)
        try:
            self.toggle(schedule, request.user)
        except (RunRefused, PermissionDenied, ValidationError) as exc:  # a schedule that cannot resume says why
            show_error(request, exc)
        return redirect(schedule.get_absolute_url())


@register_model_view(Schedule, 'pause', path='pause')
class SchedulePauseView(_ScheduleToggleView):
    def toggle(self, schedule, user):
        pause_schedule(schedule, user)
        messages.success(self.request, _('Paused {schedule}.').format(schedule=schedule))


@register_model_view(Schedule, 'resume', path='resume')
class ScheduleResumeView(_ScheduleToggleView):
    def toggle(self, schedule, user):
        resume_schedule(schedule, user)
        messages.success(self.request, _('Resumed {schedule}.').format(schedule=schedule))
