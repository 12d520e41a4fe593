from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import View
from netbox.object_actions import BulkDelete, BulkExport, DeleteObject
from netbox.ui import layout
from netbox.ui.panels import ObjectsTablePanel, TextCodePanel
from netbox.views import generic
from utilities.query import count_related
from utilities.views import ContentTypePermissionRequiredMixin, GetReturnURLMixin, register_model_view

from .. import filtersets, forms, tables
from ..execution.dispatch import enqueue_directory_sync
from ..execution.modules import sync_directory
from ..models import Script, ScriptModule
from ..ui import panels

__all__ = (
    'ScriptModuleBulkDeleteView',
    'ScriptModuleDeleteView',
    'ScriptModuleListView',
    'ScriptModuleSyncView',
    'ScriptModuleView',
)


@register_model_view(ScriptModule, 'list', path='', detail=False)
class ScriptModuleListView(generic.ObjectListView):
    queryset = ScriptModule.objects.select_related('current_revision').annotate(
        script_count=count_related(Script, 'module'),
    )
    filterset = filtersets.ScriptModuleFilterSet
    filterset_form = forms.ScriptModuleFilterForm
    table = tables.ScriptModuleTable
    actions = (BulkExport, BulkDelete)

    def get(self, request, *args, **kwargs):
        sync_directory()
        return super().get(request, *args, **kwargs)


@register_model_view(ScriptModule)
class ScriptModuleView(generic.ObjectView):
    queryset = ScriptModule.objects.select_related('current_revision')
    template_name = 'generic/object.html'
    actions = (DeleteObject,)
    layout = layout.SimpleLayout(
        left_panels=[panels.ScriptModulePanel()],
        right_panels=[
            ObjectsTablePanel(
                model='netbox_custom_scripts.Script',
                filters={'module_id': lambda ctx: ctx['object'].pk},
                exclude_columns=['module'],
            ),
        ],
        bottom_panels=[
            TextCodePanel('source_code', accessor='object.current_revision', title=_('Source')),
        ],
    )


@register_model_view(ScriptModule, 'delete')
class ScriptModuleDeleteView(generic.ObjectDeleteView):
    queryset = ScriptModule.objects.all()


@register_model_view(ScriptModule, 'bulk_delete', path='delete', detail=False)
class ScriptModuleBulkDeleteView(generic.BulkDeleteView):
    queryset = ScriptModule.objects.all()
    filterset = filtersets.ScriptModuleFilterSet
    table = tables.ScriptModuleTable


@register_model_view(ScriptModule, 'sync', path='sync', detail=False)
class ScriptModuleSyncView(ContentTypePermissionRequiredMixin, GetReturnURLMixin, View):
    """Queue a re-read of the scripts directory (POST only)."""

    def get_required_permission(self):
        return 'netbox_custom_scripts.sync_scriptmodule'

    def get(self, request):
        return redirect('plugins:netbox_custom_scripts:scriptmodule_list')

    def post(self, request):
        job = enqueue_directory_sync(request.user)
        if job is None:
            messages.warning(request, _('No scripts directory is configured (setting scripts_dir).'))
        else:
            messages.success(request, _('Queued job #{id} to sync the scripts directory.').format(id=job.pk))
        return redirect(self.get_return_url(request))
