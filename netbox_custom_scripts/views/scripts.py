from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.generic import View
from netbox.registry import registry
from netbox.views import generic
from netbox.views.generic import ObjectJobsView
from utilities.views import ContentTypePermissionRequiredMixin, ViewTab, register_model_view

from .. import filtersets, forms, tables
from ..choices import ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from ..execution import (
    InputError,
    RunRefused,
    RunRequest,
    build_form,
    companion_tests,
    current_branch,
    form_initial_from_inputs,
    get_script_class,
    submit,
)
from ..forms.errors import show_error
from ..models import Script, ScriptModule, ScriptRun
from ..scripting.meta import secret_variable_names
from ..text import is_whole_number

__all__ = (
    'ScriptJobsView',
    'ScriptListView',
    'ScriptRunsView',
    'ScriptSourceView',
    'ScriptTestView',
    'ScriptView',
)


@register_model_view(Script, 'list', path='', detail=False)
class ScriptListView(ContentTypePermissionRequiredMixin, View):
    """
    The scripts, grouped by module in list order (script_order, then alphabetical), with their last run and a way
    to run them; modules that do not load are shown with their error. Scripts are records: nothing is imported but
    a companion `<module>_tests` module (for the "has tests" mark), where one exists.
    """
    def get_required_permission(self):
        return 'netbox_custom_scripts.view_script'

    def has_permission(self):
        # Users who may only run some scripts see those.
        user = self.request.user
        return user.has_perm('netbox_custom_scripts.view_script') or user.has_perm('netbox_custom_scripts.run_script')

    def get(self, request):
        if 'export' in request.GET:
            return ScriptExportView.as_view()(request)
        last_runs = ScriptRun.objects.restrict(request.user, 'view').filter(script=OuterRef('pk')).order_by('-pk')
        scripts = viewable_or_runnable(Script.objects.all(), request.user).listed_for(request.user).select_related(
            'module'
        ).annotate(
            last_run_id=Subquery(last_runs.values('pk')[:1]),
            last_run_status=Subquery(last_runs.values('status')[:1]),
            last_run_created=Subquery(last_runs.values('created')[:1]),
        ).order_by('module__name', 'weight', 'name')
        # PostgreSQL text holds no NUL: a search for one would be a database error.
        query = request.GET.copy()
        for key in query:
            query.setlist(key, [value.replace('\x00', '') for value in query.getlist(key)])
        filterset = filtersets.ScriptFilterSet(query, queryset=scripts)
        scripts = filterset.qs if filterset.is_valid() else scripts.none()
        filtering = any(request.GET.get(key) for key in filterset.filters)

        modules = {}
        companions = set(ScriptModule.objects.filter(name__endswith='_tests').values_list('name', flat=True))
        for script in scripts:
            script.has_tests = bool(script.meta.get('test_methods')) or (
                f'{script.module.name}_tests' in companions and bool(companion_tests(script))
            )
            modules.setdefault(script.module, []).append(script)
        if not filtering:
            # Modules that do not load (or lost their file) are listed with their error even without scripts.
            for module in ScriptModule.objects.restrict(request.user, 'view').exclude(
                status=ModuleStatusChoices.OK
            ).order_by('name'):
                modules.setdefault(module, [])
        groups = sorted(modules.items(), key=lambda item: (str(item[0]).lower(), item[0].name))
        return render(request, 'netbox_custom_scripts/script_list.html', {
            'groups': groups,
            'script_count': sum(len(group) for __, group in groups),
            'filter_form': forms.ScriptFilterForm(request.GET),
            'query': request.GET.get('q', ''),
            'filtering': filtering,
            'status_colors': RunStatusChoices.colors,
            'status_labels': dict(RunStatusChoices),
            'can_add_module': request.user.has_perm('netbox_custom_scripts.add_scriptmodule'),
            'runnable': set(Script.objects.restrict(request.user, 'run').values_list('pk', flat=True)),
        })


def _initial_values(request, script, script_class):
    """Form pre-fill: a re-run's inputs (?rerun=<run>), then URL query parameters, as NetBox does."""
    initial = {}
    rerun_id = request.GET.get('rerun')
    if is_whole_number(rerun_id):
        run = ScriptRun.objects.restrict(request.user, 'view').filter(pk=rerun_id, script=script).first()
        if run is not None:
            initial.update(form_initial_from_inputs(script_class, run.inputs))
    secret_names = secret_variable_names(script_class)
    for name in script_class._get_vars():
        if name in request.GET and name not in secret_names:  # a secret is never shown, so never pre-filled
            values = request.GET.getlist(name)
            initial[name] = values if len(values) > 1 else values[0]
    return initial


class ScriptExportView(generic.ObjectListView):
    """`?export` on the script list: NetBox's CSV export (all fields, or `?export=table`: the table's columns)."""
    queryset = Script.objects.select_related('module')
    filterset = filtersets.ScriptFilterSet
    table = tables.ScriptTable

    def get_queryset(self, request):
        return viewable_or_runnable(super().get_queryset(request), request.user).listed_for(request.user)


def viewable_or_runnable(queryset, user):
    """The scripts of `queryset` that `user` may view or run: who may run a script may open its form."""
    permitted = queryset.none()
    for action in ('view', 'run'):
        if user.has_perm(f'netbox_custom_scripts.{action}_script'):
            permitted = permitted | queryset.restrict(user, action)
    return permitted


@register_model_view(Script)
class ScriptView(generic.ObjectView):
    """The script's page: its run form (when its module loads) and what it is."""
    queryset = Script.objects.select_related('module__current_revision')
    template_name = 'netbox_custom_scripts/script.html'
    actions = ()

    def has_permission(self):
        # A user with `run` but not `view` on a script may still open the form to run it.
        user = self.request.user
        if not any(user.has_perm(f'netbox_custom_scripts.{action}_script') for action in ('view', 'run')):
            return False
        self.queryset = viewable_or_runnable(self.queryset, user)
        return True

    def get_form_context(self, request, script, variables_form=None, options_form=None, load_error=None):
        script_class = None
        if load_error is None:
            try:
                script_class = get_script_class(script)
            except RunRefused as exc:
                load_error = str(exc)
        groups = []
        if script_class is not None:
            if variables_form is None:
                variables_form = build_form(script_class, initial=_initial_values(request, script, script_class),
                                            user=request.user)
            if options_form is None:
                options_form = forms.RunOptionsForm(script_class=script_class)
            for title, names in script_class.get_fieldsets():
                fields = []
                for name in names:
                    form = options_form if name.startswith('_') else variables_form
                    if name in form.fields:
                        fields.append(form[name])
                if fields:
                    groups.append((title, fields))
            # netbox-branching's options (the form has them only with branching installed) end the last group.
            branch_fields = [options_form[name] for name in ('_stage_in_branch', '_new_branch')
                             if name in options_form.fields]
            if branch_fields and groups:
                groups[-1] = (groups[-1][0], [*groups[-1][1], *branch_fields])
        return {
            'script_class': script_class,
            'load_error': load_error,
            'groups': groups,
            'variables_form': variables_form,
            'options_form': options_form,
            'can_run': request.user.has_perm('netbox_custom_scripts.run_script', script),
            'has_tests': bool(script.meta.get('test_methods')) or bool(companion_tests(script)),
            'recent_runs': ScriptRun.objects.restrict(request.user, 'view').filter(script=script)[:10],
            'active_branch': current_branch(),
        }

    def get_extra_context(self, request, instance):
        # After a rejected POST, the bound forms (with their errors) are shown again.
        return getattr(self, 'bound_context', None) or self.get_form_context(request, instance)

    def post(self, request, **kwargs):
        script = get_object_or_404(self.queryset, **kwargs)
        if not request.user.has_perm('netbox_custom_scripts.run_script', script):
            raise PermissionDenied(_('You may not run this script.'))
        try:
            script_class = get_script_class(script)
        except RunRefused as exc:
            messages.error(request, str(exc))
            return redirect(script.get_absolute_url())
        options_form = forms.RunOptionsForm(request.POST, script_class=script_class)
        variable_names = set(script_class._get_vars())
        data = QueryDict(mutable=True)
        for key in request.POST:
            if key in variable_names:
                data.setlist(key, request.POST.getlist(key))
        error = None
        if options_form.is_valid():
            try:
                run = submit(RunRequest(
                    script=script, user=request.user, data=data, files=request.FILES, source=RunSourceChoices.UI,
                    http_request=request, **options_form.run_options(),
                ))
            except InputError as exc:
                error = exc
            except RunRefused as exc:
                messages.error(request, str(exc))
            else:
                if run.schedule_id and run.status == RunStatusChoices.SCHEDULED:
                    messages.success(request, _('Scheduled: {schedule}.').format(schedule=run.schedule))
                return redirect(run.get_absolute_url())
        variables_form = build_form(script_class, data=data, files=request.FILES, user=request.user)
        variables_form.is_valid()
        if error is not None:
            for name, problems in error.message_dict.items():
                if name in ('schedule_at', 'interval', 'cron', 'queue', 'new_branch'):
                    if f'_{name}' in options_form.fields:
                        options_form.add_error(f'_{name}', problems)
                    else:
                        messages.error(request, ' '.join(problems))
                elif name in variables_form.fields and not variables_form.has_error(name):
                    variables_form.add_error(name, problems)
                elif name not in variables_form.fields:
                    for problem in problems:
                        messages.error(request, problem)
        self.bound_context = self.get_form_context(request, script, variables_form, options_form)
        return super().get(request, **kwargs)


@register_model_view(Script, 'test', path='test')
class ScriptTestView(View):
    """Run the script's own tests (a health check, always rolled back) on a worker."""

    def post(self, request, pk):
        script = get_object_or_404(Script.objects.restrict(request.user, 'view'), pk=pk)
        try:
            run = submit(RunRequest(
                script=script, user=request.user, source=RunSourceChoices.UI, http_request=request, health_check=True,
            ))
        except (PermissionDenied, RunRefused) as exc:
            show_error(request, exc)
            return redirect(script.get_absolute_url())
        return redirect(run.get_absolute_url())


@register_model_view(Script, 'source', path='source')
class ScriptSourceView(generic.ObjectView):
    queryset = Script.objects.select_related('module__current_revision')
    template_name = 'netbox_custom_scripts/script/source.html'
    tab = ViewTab(label=_('Source'), weight=500)
    actions = ()


@register_model_view(Script, 'runs', path='runs')
class ScriptRunsView(generic.ObjectChildrenView):
    queryset = Script.objects.all()
    child_model = ScriptRun
    table = tables.ScriptRunTable
    filterset = filtersets.ScriptRunFilterSet
    template_name = 'generic/object_children.html'
    actions = ()
    tab = ViewTab(label=_('Runs'), badge=lambda script: script.runs.count(), weight=510)

    def get_children(self, request, parent):
        return ScriptRun.objects.restrict(request.user, 'view').filter(script=parent).select_related('user')


class ScriptJobsView(ObjectJobsView):
    """The script's Jobs tab: only the core jobs the user may view (NetBox's own view lists all of them)."""

    def get_jobs(self, instance):
        return super().get_jobs(instance).restrict(self.request.user, 'view')


# In place of the ObjectJobsView that NetBox registers for every JobsMixin model (the first registered path wins).
registry['views']['netbox_custom_scripts']['script'][:] = [
    view for view in registry['views']['netbox_custom_scripts']['script'] if view['name'] != 'jobs'
]
register_model_view(Script, 'jobs', kwargs={'model': Script})(ScriptJobsView)
