from django import forms
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelFilterSetForm
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import DynamicModelMultipleChoiceField, TagFilterField
from utilities.forms.rendering import FieldSet

from ..choices import ModuleSourceChoices, ModuleStatusChoices
from ..models import Script, ScriptModule

__all__ = (
    'ScriptFilterForm',
    'ScriptModuleFilterForm',
)


class ScriptModuleFilterForm(NetBoxModelFilterSetForm):
    model = ScriptModule
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('source', 'status', name=_('Module')),
    )
    source = forms.MultipleChoiceField(label=_('Source'), choices=ModuleSourceChoices, required=False)
    status = forms.MultipleChoiceField(label=_('Status'), choices=ModuleStatusChoices, required=False)
    tag = TagFilterField(model)


class ScriptFilterForm(NetBoxModelFilterSetForm):
    model = Script
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('module_id', 'is_active', name=_('Script')),
    )
    module_id = DynamicModelMultipleChoiceField(
        queryset=ScriptModule.objects.all(),
        required=False,
        label=_('Module'),
    )
    is_active = forms.NullBooleanField(
        label=_('Active'),
        required=False,
        widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES),
    )
    tag = TagFilterField(model)
