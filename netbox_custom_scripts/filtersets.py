import django_filters
from django.db.models import Q
from django.utils.translation import gettext as _
from netbox.filtersets import BaseFilterSet, NetBoxModelFilterSet
from users.models import User
from utilities.filtersets import register_filterset

from .choices import ModuleSourceChoices, ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from .models import Schedule, Script, ScriptModule, ScriptRun

__all__ = (
    'ScheduleFilterSet',
    'ScriptFilterSet',
    'ScriptModuleFilterSet',
    'ScriptRunFilterSet',
)


@register_filterset
class ScriptModuleFilterSet(NetBoxModelFilterSet):
    source = django_filters.MultipleChoiceFilter(choices=ModuleSourceChoices)
    status = django_filters.MultipleChoiceFilter(choices=ModuleStatusChoices)

    class Meta:
        model = ScriptModule
        fields = ('id', 'name', 'display_name', 'file_path', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(display_name__icontains=value) | Q(description__icontains=value)
        )


@register_filterset
class ScriptFilterSet(NetBoxModelFilterSet):
    module_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ScriptModule.objects.all(),
        label=_('Module (ID)'),
    )
    module = django_filters.ModelMultipleChoiceFilter(
        field_name='module__name',
        queryset=ScriptModule.objects.all(),
        to_field_name='name',
        label=_('Module (name)'),
    )

    class Meta:
        model = Script
        fields = ('id', 'name', 'class_name', 'is_active', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(class_name__icontains=value) | Q(description__icontains=value) |
            Q(module__name__icontains=value) | Q(module__display_name__icontains=value)
        )


class NumberInFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    """Comma-separated numbers; anything else is a 400, not a database error."""


@register_filterset
class ScriptRunFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(method='search', label=_('Search'))
    script_id = django_filters.ModelMultipleChoiceFilter(queryset=Script.objects.all(), label=_('Script (ID)'))
    module_id = django_filters.ModelMultipleChoiceFilter(
        field_name='script__module', queryset=ScriptModule.objects.all(), label=_('Module (ID)'),
    )
    user_id = django_filters.ModelMultipleChoiceFilter(queryset=User.objects.all(), label=_('User (ID)'))
    user = django_filters.ModelMultipleChoiceFilter(
        field_name='user__username', queryset=User.objects.all(), to_field_name='username', label=_('User (name)'),
    )
    status = django_filters.MultipleChoiceFilter(choices=RunStatusChoices)
    source = django_filters.MultipleChoiceFilter(choices=RunSourceChoices)
    created_after = django_filters.DateTimeFilter(field_name='created', lookup_expr='gte')
    created_before = django_filters.DateTimeFilter(field_name='created', lookup_expr='lte')
    # netbox-branching: by branch ID or name; in_branch=false for the runs in main.
    branch_id = NumberInFilter(field_name='branch_id', label=_('Branch (ID)'))
    branch = django_filters.BaseInFilter(field_name='branch_name', label=_('Branch (name)'))
    in_branch = django_filters.BooleanFilter(field_name='branch_id', lookup_expr='isnull', exclude=True,
                                             label=_('In a branch'))

    class Meta:
        model = ScriptRun
        fields = ('id', 'script_name', 'commit', 'queue', 'request_id', 'schedule_id', 'rerun_of_id', 'branch_staged')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(script_name__icontains=value) | Q(error__icontains=value))


@register_filterset
class ScheduleFilterSet(NetBoxModelFilterSet):
    script_id = django_filters.ModelMultipleChoiceFilter(queryset=Script.objects.all(), label=_('Script (ID)'))
    user_id = django_filters.ModelMultipleChoiceFilter(queryset=User.objects.all(), label=_('User (ID)'))

    class Meta:
        model = Schedule
        fields = ('id', 'name', 'enabled', 'commit', 'interval', 'cron', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value) | Q(cron__icontains=value))
