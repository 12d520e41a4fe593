from django import forms
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelFilterSetForm
from users.models import User
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import DynamicModelMultipleChoiceField, TagFilterField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker

from ..choices import ModuleSourceChoices, ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from ..models import Schedule, Script, ScriptModule, ScriptRun

__all__ = (
    'ScheduleFilterForm',
    'ScriptFilterForm',
    'ScriptModuleFilterForm',
    'ScriptRunFilterForm',
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


class ScriptRunFilterForm(NetBoxModelFilterSetForm):
    model = ScriptRun
    fieldsets = (
        FieldSet('q', 'filter_id'),
        FieldSet('script_id', 'user_id', 'status', 'commit', 'source', name=_('Run')),
        FieldSet('in_branch', 'branch', name=_('Branch')),
        FieldSet('created_after', 'created_before', name=_('Created')),
    )
    script_id = DynamicModelMultipleChoiceField(queryset=Script.objects.all(), required=False, label=_('Script'))
    user_id = DynamicModelMultipleChoiceField(queryset=User.objects.all(), required=False, label=_('User'))
    status = forms.MultipleChoiceField(label=_('Status'), choices=RunStatusChoices, required=False)
    source = forms.MultipleChoiceField(label=_('Started from'), choices=RunSourceChoices, required=False)
    commit = forms.NullBooleanField(
        label=_('Commit'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES),
    )
    in_branch = forms.NullBooleanField(
        label=_('In a branch'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES),
    )
    branch = forms.CharField(label=_('Branch name'), required=False)
    created_after = forms.DateTimeField(required=False, label=_('After'), widget=DateTimePicker())
    created_before = forms.DateTimeField(required=False, label=_('Before'), widget=DateTimePicker())


class ScheduleFilterForm(NetBoxModelFilterSetForm):
    model = Schedule
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('script_id', 'user_id', 'enabled', 'commit', name=_('Schedule')),
    )
    script_id = DynamicModelMultipleChoiceField(queryset=Script.objects.all(), required=False, label=_('Script'))
    user_id = DynamicModelMultipleChoiceField(queryset=User.objects.all(), required=False, label=_('Runs as'))
    enabled = forms.NullBooleanField(
        label=_('Enabled'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES),
    )
    commit = forms.NullBooleanField(
        label=_('Commit'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES),
    )
    tag = TagFilterField(model)
