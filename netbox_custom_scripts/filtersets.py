import django_filters
from django.db.models import Q
from django.utils.translation import gettext as _
from netbox.filtersets import NetBoxModelFilterSet
from utilities.filtersets import register_filterset

from .choices import ModuleSourceChoices, ModuleStatusChoices
from .models import Script, ScriptModule

__all__ = (
    'ScriptFilterSet',
    'ScriptModuleFilterSet',
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
