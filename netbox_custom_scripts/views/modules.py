from django.contrib import messages
from django.shortcuts import redirect
from django.views.generic import View
from django.utils.translation import gettext as _

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

    def get(self, request, *args, **kwargs):
        sync_directory()
        return super().get(request, *args, **kwargs)


@register_model_view(ScriptModule)
class ScriptModuleView(generic.ObjectView):
    queryset = ScriptModule.objects.select_related('current_revision')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.ScriptModulePanel()],
        right_panels=[TextCodePanel('current_revision.source_code', title='Source')],
        bottom_panels=[
            ObjectsTablePanel(
                model='netbox_custom_scripts.Script',
                filters={'module_id': lambda ctx: ctx['object'].pk},
                exclude_columns=['module'],
            ),
        ],
    )


@register_model_view(ScriptModule, 'delete')
class ScriptModuleDeleteView(generic.ObjectDeleteView):
    queryset = ScriptModule.objects.all()


@register_model_view(ScriptModule, 'sync', path='sync', detail=False)
class ScriptModuleSyncView(ContentTypePermissionRequiredMixin, GetReturnURLMixin, View):
    """Queue a re-read of the scripts directory (POST only)."""

    def get_required_permission(self):
        return 'netbox_custom_scripts.change_scriptmodule'

    def get(self, request):
        return redirect('plugins:netbox_custom_scripts:scriptmodule_list')

    def post(self, request):
        job = enqueue_directory_sync(request.user)
        if job is None:
            messages.warning(request, _('No scripts directory is configured (setting scripts_dir).'))
        else:
            messages.success(request, _('Queued job #{id} to sync the scripts directory.').format(id=job.pk))
        return redirect(self.get_return_url(request))
