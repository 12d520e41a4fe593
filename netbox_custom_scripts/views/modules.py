import difflib

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View
from netbox.object_actions import AddObject, BulkDelete, BulkExport, DeleteObject, EditObject, ObjectAction
from netbox.ui import attrs, layout
from netbox.ui.panels import ObjectAttributesPanel, ObjectsTablePanel, TextCodePanel
from netbox.views import generic
from utilities.query import count_related
from utilities.views import ContentTypePermissionRequiredMixin, GetReturnURLMixin, ViewTab, register_model_view

from .. import filtersets, forms, tables
from ..choices import ModuleSourceChoices
from ..execution import RunRefused, enqueue_directory_sync, enqueue_revision_activation
from ..forms.errors import show_error
from ..models import Script, ScriptModule
from ..text import is_whole_number
from ..ui import panels

__all__ = (
    'ScriptModuleActivateView',
    'ScriptModuleAddView',
    'ScriptModuleBulkDeleteView',
    'ScriptModuleDataSourceAddView',
    'ScriptModuleDeleteView',
    'ScriptModuleEditView',
    'ScriptModuleListView',
    'ScriptModuleRevisionsView',
    'ScriptModuleSyncView',
    'ScriptModuleView',
)


class UploadModule(AddObject):
    label = gettext_lazy('Upload')


class AddModuleFromDataSource(ObjectAction):
    name = 'add_data_source'
    label = gettext_lazy('From data source')
    permissions_required = {'add'}
    template_name = 'buttons/add.html'


class SyncModuleData(ObjectAction):
    """Re-read a data-source module from its data file (NetBox's own sync view; shown on data-source modules)."""
    name = 'sync'
    label = gettext_lazy('Sync')
    permissions_required = {'sync'}
    template_name = 'netbox_custom_scripts/scriptmodule/buttons/sync.html'
    url_kwargs = ['pk']

    @classmethod
    def get_context(cls, context, obj):
        return {'show': obj.source == ModuleSourceChoices.DATA_SOURCE and obj.data_file_id is not None}


class ScriptModuleDataPanel(ObjectAttributesPanel):
    title = gettext_lazy('Data source')
    data_source = attrs.RelatedObjectAttr('data_source', linkify=True)
    data_file = attrs.TemplatedAttr(
        'data_path', label=gettext_lazy('Data file'),
        template_name='netbox_custom_scripts/scriptmodule/attrs/data_file.html',
    )
    data_synced = attrs.DateTimeAttr('data_synced', label=gettext_lazy('Synced'))
    auto_sync_enabled = attrs.BooleanAttr('auto_sync_enabled', label=gettext_lazy('Auto sync'))

    def should_render(self, context):
        return context['object'].source == ModuleSourceChoices.DATA_SOURCE


@register_model_view(ScriptModule, 'list', path='', detail=False)
class ScriptModuleListView(generic.ObjectListView):
    queryset = ScriptModule.objects.select_related('current_revision').annotate(
        script_count=count_related(Script, 'module'),
    )
    filterset = filtersets.ScriptModuleFilterSet
    filterset_form = forms.ScriptModuleFilterForm
    table = tables.ScriptModuleTable
    actions = (UploadModule, AddModuleFromDataSource, BulkExport, BulkDelete)


@register_model_view(ScriptModule)
class ScriptModuleView(generic.ObjectView):
    queryset = ScriptModule.objects.select_related('current_revision', 'pending_revision')
    template_name = 'generic/object.html'
    actions = (EditObject, SyncModuleData, DeleteObject)
    layout = layout.SimpleLayout(
        left_panels=[
            panels.WarningsPanel(), panels.ScriptModulePanel(), ScriptModuleDataPanel(), panels.PendingRevisionPanel(),
        ],
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


class _ModuleFormView(generic.ObjectEditView):
    """Create or change a module through the sources layer, recording the user as the author of new revisions."""
    queryset = ScriptModule.objects.select_related('current_revision')

    def alter_object(self, obj, request, url_args, url_kwargs):
        obj._editing_user = request.user
        return obj


@register_model_view(ScriptModule, 'add', detail=False)
class ScriptModuleAddView(_ModuleFormView):
    """Upload a module file, or type one into the editor."""
    form = forms.ScriptModuleUploadForm


@register_model_view(ScriptModule, 'add_data_source', path='add-from-data-source', detail=False)
class ScriptModuleDataSourceAddView(_ModuleFormView):
    """A module whose source is a file of a NetBox Data Source."""
    form = forms.ScriptModuleDataSourceForm


@register_model_view(ScriptModule, 'edit')
class ScriptModuleEditView(_ModuleFormView):
    """Replace an uploaded module's source (a new revision) or change any module's description and tags."""
    form = forms.ScriptModuleEditForm


@register_model_view(ScriptModule, 'revisions', path='revisions')
class ScriptModuleRevisionsView(generic.ObjectView):
    """Every revision of a module with its hash, author and date; `?number=N` shows one with its changes."""
    queryset = ScriptModule.objects.select_related('current_revision')
    template_name = 'netbox_custom_scripts/scriptmodule/revisions.html'
    actions = (EditObject, SyncModuleData, DeleteObject)
    tab = ViewTab(label=gettext_lazy('Revisions'), badge=lambda module: module.revisions.count(), weight=500)

    def get_extra_context(self, request, instance):
        revisions = list(instance.revisions.select_related('created_by').defer('source_code'))
        selected = previous = None
        diff = ''
        number = request.GET.get('number', '')
        if is_whole_number(number):
            selected = instance.revisions.filter(number=int(number)).select_related('created_by').first()
        if selected is not None:
            previous = instance.revisions.filter(number__lt=selected.number).order_by('-number').first()
            if previous is not None:
                diff = '\n'.join(difflib.unified_diff(
                    previous.source_code.splitlines(), selected.source_code.splitlines(),
                    fromfile=f'r{previous.number}', tofile=f'r{selected.number}', lineterm='',
                ))
        return {
            'revisions': revisions,
            'selected': selected,
            'previous': previous,
            'diff': diff,
        }


@register_model_view(ScriptModule, 'delete')
class ScriptModuleDeleteView(generic.ObjectDeleteView):
    """Delete a module with its revisions and scripts; an uploaded module's stored file goes with it."""
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
        try:
            job = enqueue_directory_sync(request.user)
        except RunRefused as exc:
            show_error(request, exc, messages.WARNING)
        else:
            messages.success(request, _('Queued job #{id} to sync the scripts directory.').format(id=job.pk))
        return redirect(self.get_return_url(request))


@register_model_view(ScriptModule, 'activate', path='activate')
class ScriptModuleActivateView(GetReturnURLMixin, View):
    """Activate the module's pending revision (POST only): queued for a worker, which imports it."""

    def post(self, request, pk):
        # Only users who may change the module find it here (activating new code is changing it).
        module = get_object_or_404(ScriptModule.objects.restrict(request.user, 'change'), pk=pk)
        number = request.POST.get('revision', '')
        if not is_whole_number(number):
            messages.error(request, _('Say which revision to activate (the one you reviewed).'))
            return redirect(module.get_absolute_url())
        try:
            job = enqueue_revision_activation(module, request.user, int(number))
        except RunRefused as exc:
            messages.warning(request, str(exc))
        else:
            messages.success(request, _('Queued job #{id} to activate revision r{number}.').format(
                id=job.pk, number=number,
            ))
        return redirect(module.get_absolute_url())
