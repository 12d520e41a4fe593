from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelForm
from utilities.forms.fields import DynamicModelChoiceField, JSONField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker

from ..cron import MAX_INTERVAL_MINUTES
from ..execution import (
    InputError,
    RunRefused,
    branching_installed,
    check_schedule_settings,
    create_schedule,
    schedule_branch,
    update_schedule,
)
from ..models import Schedule, Script
from .errors import add_core_errors

__all__ = (
    'ScheduleForm',
)


class BoundedJSONField(JSONField):
    """NetBox's JSON form field, with JSON nested too deeply for the parser refused rather than a server error."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(_('The JSON is nested too deeply.'), code='invalid')


class ScheduleForm(NetBoxModelForm):
    """Create or change a schedule. Inputs are validated as a run's would be, as the user saving the form."""
    script = DynamicModelChoiceField(queryset=Script.objects.filter(is_active=True), label=_('Script'))
    inputs = BoundedJSONField(
        required=False, label=_('Inputs'),
        help_text=_('Input values by variable name, as JSON (object variables take IDs). Secrets cannot be scheduled.'),
    )
    start_at = forms.DateTimeField(required=False, label=_('Start at'), widget=DateTimePicker())
    interval = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTERVAL_MINUTES, label=_('Interval'),
        help_text=_('Repeat every this many minutes (at most 366 days)'),
    )
    # netbox-branching only (removed below without it).
    branch = forms.CharField(
        required=False, max_length=100, label=_('Branch'),
        help_text=_('Run in this netbox-branching branch (its name); empty: main'),
    )

    fieldsets = (
        FieldSet('name', 'script', 'description', 'tags', name=_('Schedule')),
        FieldSet('health_check', 'inputs', 'commit', 'notifications', 'branch', name=_('Run')),
        FieldSet('start_at', 'interval', 'cron', name=_('Timing')),
    )

    class Meta:
        model = Schedule
        fields = (
            'name', 'script', 'description', 'health_check', 'inputs', 'commit', 'notifications', 'start_at',
            'interval', 'cron', 'tags',
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not branching_installed():
            del self.fields['branch']
        elif self.instance.pk:
            self.initial.setdefault('branch', self.instance.branch_name)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        user = getattr(self.instance, '_editing_user', None)
        script = data.get('script')
        if script is None or user is None or self.errors:
            return data
        try:
            data['inputs'] = check_schedule_settings(
                script, user, data.get('inputs') or {}, data.get('start_at'), data.get('interval'), data.get('cron'),
                bool(data.get('health_check')), bool(data.get('commit')),
            )
        except InputError as exc:
            # Its timing on its own fields; the script's inputs (and anything else) on the inputs field.
            add_core_errors(self, exc, {name: name for name in ('start_at', 'interval', 'cron')}, others='inputs')
        except (PermissionDenied, RunRefused) as exc:
            add_core_errors(self, exc, others='script')
        if data.get('branch'):
            try:
                schedule_branch(data['branch'], user)
            except (InputError, PermissionDenied, RunRefused) as exc:
                add_core_errors(self, exc, others='branch')
        return data

    def save(self, commit=True):
        data = self.cleaned_data
        user = self.instance._editing_user
        settings = {
            key: data.get(key) for key in (
                'name', 'description', 'inputs', 'commit', 'notifications', 'start_at', 'interval', 'cron',
            )
        }
        health_check = bool(data.get('health_check'))
        settings['cron'] = settings['cron'] or ''
        if 'branch' in self.fields:
            settings['branch'] = data.get('branch') or None
        if self.instance.pk:
            instance = update_schedule(self.instance, user, health_check=health_check, **settings)
        else:
            instance = create_schedule(data['script'], user=user, health_check=health_check, **settings)
        if 'tags' in data:
            instance.tags.set(data['tags'])
        self.instance = instance
        return instance
