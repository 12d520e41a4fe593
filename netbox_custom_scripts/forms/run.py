from core.choices import JobIntervalChoices
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from netbox.plugins import get_plugin_config
from utilities.forms.widgets import DateTimePicker, NumberWithOptions

from ..cron import MAX_CRON_LENGTH, MAX_INTERVAL_MINUTES
from ..execution import ScriptInputForm, branching_installed, run_options, secret_field, visible_variables
from ..scripting.meta import script_options

__all__ = (
    'RunOptionsForm',
    'ScriptRunForm',
    'script_run_form',
)


class RunOptionsForm(forms.Form):
    """The "Script Execution Parameters" of the run form: commit, scheduling and notifications."""
    _commit = forms.BooleanField(
        required=False,
        label=_('Commit changes'),
        help_text=_('Unchecked: a dry run, whose changes are shown and then rolled back'),
    )
    _schedule_at = forms.DateTimeField(
        required=False,
        widget=DateTimePicker(),
        label=_('Schedule at'),
        help_text=_('Run at this time instead of now'),
    )
    _interval = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INTERVAL_MINUTES,
        label=_('Repeat every'),
        widget=NumberWithOptions(options=JobIntervalChoices),
        help_text=_('Minutes between runs (creates a schedule)'),
    )
    _cron = forms.CharField(
        required=False,
        max_length=MAX_CRON_LENGTH,
        label=_('Or on cron'),
        help_text=_('A cron expression (minute hour day month weekday), in UTC (creates a schedule)'),
    )
    _queue = forms.ChoiceField(
        required=False,
        label=_('Queue'),
        help_text=_('The RQ queue (workers) to run it on'),
    )
    # netbox-branching only (removed below without it).
    _stage_in_branch = forms.BooleanField(
        required=False,
        label=_('Stage in a new branch'),
        help_text=_('Create a branch, commit the changes there and review them with its diff before merging; main '
                    'is not changed'),
    )
    _new_branch = forms.CharField(
        required=False,
        max_length=100,
        label=_('New branch name'),
        help_text=_('The name of the branch to create'),
    )

    def __init__(self, *args, script_class, **kwargs):
        super().__init__(*args, **kwargs)
        # Through script_options(): a variable may be called `queue` or `commit_default`, as on NetBox.
        options = script_options(script_class)
        own = options.queue or get_plugin_config('netbox_custom_scripts', 'default_queue')
        if options.allowed_queues:
            queues = [own, *(queue for queue in options.allowed_queues if queue != own)]
            self.fields['_queue'].choices = [(queue, queue) for queue in queues]
            self.fields['_queue'].initial = own
        else:
            del self.fields['_queue']
        self.fields['_commit'].initial = options.commit_default
        self.fields['_notifications'].initial = options.notifications_default
        if not options.scheduling_enabled:
            for name in ('_schedule_at', '_interval', '_cron'):
                del self.fields[name]
        if branching_installed():
            self.fields['_new_branch'].initial = f'{script_class.__name__} {timezone.now():%Y-%m-%d %H:%M:%S}'
        else:
            del self.fields['_stage_in_branch'], self.fields['_new_branch']

    @classmethod
    def add_declared_options(cls):
        """A field `_<name>` for every declared run option (execution.RunOption)."""
        for name, option in run_options():
            cls.base_fields[f'_{name}'] = run_option_field(option)

    def run_options(self):
        """The cleaned options as RunRequest fields (`_commit` is `commit`); an empty field is left to the core."""
        options = {name.removeprefix('_'): value for name, value in self.cleaned_data.items()}
        # The checkbox always says: unchecked is a dry run, whatever Meta.commit_default.
        options['commit'] = bool(options.get('commit'))
        if options.pop('stage_in_branch', False):
            options['new_branch'] = options.get('new_branch') or self.fields['_new_branch'].initial
        else:
            options.pop('new_branch', None)
        return {name: value for name, value in options.items() if value not in (None, '')}


def run_option_field(option):
    """The web form's field for a declared run option; left empty, the core decides."""
    common = dict(required=False, label=option.label, help_text=option.help)
    if option.choices:
        return forms.ChoiceField(choices=[('', '---------'), *option.choices], **common)
    if option.kind is bool:
        return forms.NullBooleanField(**common)
    if option.kind is int:
        return forms.IntegerField(**common)
    return forms.CharField(**common)


RunOptionsForm.add_declared_options()


class ScriptRunForm(ScriptInputForm):
    """
    The whole run form in one: the script's variables (validated as every run's inputs are) and the run options.
    What Script.as_form() returns, as NetBox's does, for script authors' unit tests; the run page itself shows the
    two parts as separate forms.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The options as the run page configures them for this script (queues, defaults, scheduling).
        self.fields.update(RunOptionsForm(script_class=self.script_class).fields)

    def clean(self):
        cleaned = super().clean()
        # As NetBox's run form: no choice means the script's default.
        if '_notifications' in self.fields and not cleaned.get('_notifications'):
            cleaned['_notifications'] = self.fields['_notifications'].initial
        return cleaned


def script_run_form(script_class, data=None, files=None, initial=None):
    """A ScriptRunForm of `script_class`, bound when `data` or `files` is given (as Django forms are)."""
    secret_names = script_class.secret_variable_names()
    fields = {
        name: secret_field(var.as_field()) if name in secret_names else var.as_field()
        for name, var in visible_variables(script_class).items()
    }
    form_class = type('ScriptForm', (ScriptRunForm,), fields)
    return form_class(data, files, initial=initial, script_class=script_class)
