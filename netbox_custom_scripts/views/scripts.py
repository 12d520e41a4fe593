from netbox.object_actions import BulkExport
from netbox.ui import layout
from netbox.ui.panels import JSONPanel
from netbox.views import generic
from utilities.views import register_model_view

from .. import filtersets, forms, tables
from ..execution.modules import sync_directory
from ..models import Script
from ..ui import panels

__all__ = (
    'ScriptListView',
    'ScriptView',
)


@register_model_view(Script, 'list', path='', detail=False)
class ScriptListView(generic.ObjectListView):
    queryset = Script.objects.filter(is_active=True).select_related('module')
    filterset = filtersets.ScriptFilterSet
    filterset_form = forms.ScriptFilterForm
    table = tables.ScriptTable
    actions = (BulkExport,)

    def get(self, request, *args, **kwargs):
        sync_directory()
        return super().get(request, *args, **kwargs)


@register_model_view(Script)
class ScriptView(generic.ObjectView):
    queryset = Script.objects.select_related('module')
    template_name = 'generic/object.html'
    actions = ()
    layout = layout.SimpleLayout(
        left_panels=[panels.ScriptPanel()],
        right_panels=[JSONPanel('variables', title='Variables'), JSONPanel('meta', title='Options')],
    )
