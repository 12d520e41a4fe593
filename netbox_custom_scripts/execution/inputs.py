"""
The one validation path for a script's inputs, whichever entry point they come from (web form, REST API, CLI,
nbshell, schedules, event rules, re-runs).

Everything the form enforces is enforced here on the server: each variable's own checks, ObjectVar
`query_params` (including `$other_variable` references and lists of values) and the user's permission to view the
objects picked, then the script's own `clean(data)`. Variables that Meta.fieldsets does not list are not shown and
take their default. Values are returned cleaned (for `run()`) and serialised (for the run record, with secret values
masked).
"""
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldError, ValidationError
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

from ..scripting.fields import filterset_for_model
from ..scripting.meta import EXECUTION_PARAMETERS, script_options, secret_variable_names
from ..scripting.script import run_clean_hook
from ..scripting.variables import FileVar, MultiChoiceVar, MultiObjectVar, ObjectVar
from .errors import InputError

__all__ = (
    'LISTED_INPUT_LENGTH',
    'SECRET_MASK',
    'ValidatedInputs',
    'build_form',
    'form_initial_from_inputs',
    'hidden_variables',
    'summarised_inputs',
    'validate_inputs',
    'visible_variables',
)

# What the run record and the API show in place of a secret value.
SECRET_MASK = '********'
# Longest input value, as JSON, that lists of runs show; a longer one is summarised (the run itself has it whole).
LISTED_INPUT_LENGTH = 1000


def summarised_inputs(inputs):
    """A run's stored inputs for a list of runs: values longer than LISTED_INPUT_LENGTH replaced by their length."""
    if not isinstance(inputs, dict):
        return inputs
    summary = {}
    for name, value in inputs.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        summary[name] = value if len(text) <= LISTED_INPUT_LENGTH else _(
            '[{length} characters: see the run]'
        ).format(length=len(text))
    return summary


@dataclass
class ValidatedInputs:
    cleaned: dict                                 # what run() receives
    stored: dict                                  # JSON-safe, secrets masked: the run record
    secrets: dict = field(default_factory=dict)   # secret values, to hand to the worker sealed


def visible_variables(script_class):
    """The variables the form shows: those listed in Meta.fieldsets, if set; otherwise all of them."""
    variables = script_class._get_vars()
    if fieldsets := script_options(script_class).fieldsets:
        listed = [name for _title, names in fieldsets for name in names]
        return {name: variables[name] for name in listed if name in variables}
    return variables


def hidden_variables(script_class):
    """The variables Meta.fieldsets leaves out: never shown, never submitted, always their default."""
    visible = visible_variables(script_class)
    return {name: var for name, var in script_class._get_vars().items() if name not in visible}


def _default_data(var):
    """A variable's default as form data (what the browser would post if the user left it alone)."""
    return var.bind_value(var.serialize(var.default))


def hidden_values(script_class):
    """
    The cleaned values of the hidden variables: each default, validated by its own field (so an ObjectVar default
    given as an ID becomes the object, a date string a date), or the field's empty value when there is no default.
    Raises InputError when a default does not validate: the user could not correct it, so the script is at fault.
    """
    fields, data, values = {}, {}, {}
    for name, var in hidden_variables(script_class).items():
        if isinstance(var, FileVar):
            values[name] = None
            continue
        form_field = var.as_field()
        form_field.required = False
        fields[name] = form_field
        if var.default is not None:
            data[name] = _default_data(var)
    if fields:
        form = type('HiddenVariablesForm', (forms.Form,), fields)(data)
        if not form.is_valid():
            raise InputError({
                name: [
                    _('{message} (the default of this variable, which the form does not show)').format(
                        message=error['message']
                    ) for error in errors
                ]
                for name, errors in form.errors.get_json_data().items()
            })
        values.update(form.cleaned_data)
    return values


class ScriptInputForm(forms.Form):
    """
    A form of the script's visible variables, restricted to the objects `user` may view and to each ObjectVar's
    query_params. Once valid, `script_data` holds what run() receives. Built by build_form().
    """

    def __init__(self, *args, script_class, user=None, **kwargs):
        self.script_class = script_class
        self.user = user
        self.script_data = None
        super().__init__(*args, **kwargs)
        self._restrict_object_fields()

    def full_clean(self):
        super().full_clean()
        if self._errors:
            self._scrub_secrets_from_errors()

    def _scrub_secrets_from_errors(self):
        """
        Error messages never repeat a secret value: a secret variable's own errors say only what kind of problem it
        is, and any submitted secret value quoted by another message (the script's clean(), say) is masked.
        """
        secret_names = secret_variable_names(self.script_class)
        values = set()
        for name in secret_names:
            raw = self._raw_value(name) if name in self.fields else None
            for value in raw if isinstance(raw, list) else [raw]:
                if isinstance(value, str) and value:
                    values.add(value)
        ordered = sorted(values, key=len, reverse=True)

        def scrub(message):
            for value in ordered:
                message = message.replace(value, SECRET_MASK)
            return message

        for name, errors in list(self._errors.items()):
            messages = []
            for error in errors.as_data():
                if name in secret_names and error.code != 'required':
                    messages.append(_('Invalid value (not shown: the variable is secret).'))
                else:
                    messages.extend(scrub(str(message)) for message in error)
            css = 'nonfield' if name == NON_FIELD_ERRORS else None
            self._errors[name] = self.error_class(list(dict.fromkeys(messages)), error_class=css,
                                                  renderer=self.renderer)

    def _raw_value(self, name):
        """The value `$name` in query_params refers to: what was submitted, or a hidden variable's default."""
        if name not in self.fields:
            var = self.script_class._get_vars().get(name)
            if var is None or var.default is None:
                return None
            value = _default_data(var)
        else:
            key = self.add_prefix(name)
            value = self.data.getlist(key) if hasattr(self.data, 'getlist') else self.data.get(key)
        if isinstance(value, (list, tuple)):
            return [v for v in value if v not in (None, '')]
        return value

    def _restrict_object_fields(self):
        for name, var in self.script_class._get_vars().items():
            if name not in self.fields or not isinstance(var, ObjectVar):
                continue
            queryset = var.model.objects.all()
            if self.user is not None and hasattr(queryset, 'restrict'):
                queryset = queryset.restrict(self.user, 'view')
            if var.query_params and self.is_bound:
                queryset = self._apply_query_params(var, queryset)
            self.fields[name].queryset = queryset

    def _apply_query_params(self, var, queryset):
        """Filter the choices as the form's API-backed select does: with the model's filterset, as REST parameters."""
        params = {}
        for key, value in var.query_params.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            resolved = []
            for item in values:
                if isinstance(item, str) and item.startswith('$'):
                    referenced = self._raw_value(item[1:])
                    if referenced in (None, '', []):
                        continue  # an empty referenced field does not filter (as in the browser)
                    resolved.extend(referenced if isinstance(referenced, list) else [referenced])
                else:
                    resolved.append(item)
            if resolved:
                params[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in resolved]
        if not params:
            return queryset
        filterset_class = filterset_for_model(var.model)
        if filterset_class is None:
            # A model without a registered filterset: plain field lookups.
            try:
                return queryset.filter(**{f'{key}__in': values for key, values in params.items()})
            except (FieldError, ValueError, ValidationError):
                return queryset.none()
        filterset = filterset_class(MultiValueDict(params), queryset=queryset)
        if not filterset.is_valid():
            return queryset.none()
        return filterset.qs

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            hidden = hidden_values(self.script_class)
        except InputError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(None, [f'{name}: {message}' for message in messages])
            return cleaned
        data = {
            name: cleaned[name] if name in cleaned else hidden.get(name)
            for name in self.script_class._get_vars()
        }
        script = self.script_class()
        try:
            run_clean_hook(script, data)  # skipped when `clean` is one of the script's variables
        except ValidationError as exc:
            if hasattr(exc, 'error_dict'):
                for name, errors in exc.error_dict.items():
                    if name in self.fields or name == NON_FIELD_ERRORS:
                        self.add_error(name if name in self.fields else None, errors)
                    else:  # a hidden variable, or no variable at all: keep the name with the message
                        self.add_error(None, [f'{name}: {message}' for error in errors for message in error])
            else:
                self.add_error(None, exc)
            return cleaned
        self.script_data = data
        return cleaned


class _SecretWidget:
    """Mixed into a secret variable's widget: it never renders a value (submitted, initial or default)."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


_secret_widget_classes = {}


def secret_field(field):
    """The field, its widget made one that never renders a value (Meta.sensitive_variables keep their widget)."""
    widget_class = type(field.widget)
    if not issubclass(widget_class, _SecretWidget):
        if widget_class not in _secret_widget_classes:
            name = f'Secret{widget_class.__name__}'
            _secret_widget_classes[widget_class] = type(name, (_SecretWidget, widget_class), {})
        field.widget.__class__ = _secret_widget_classes[widget_class]
    return field


def build_form(script_class, data=None, files=None, initial=None, user=None, prefix=None):
    """The input form of a script: its visible variables, in form order; secret ones never render their value."""
    secret_names = secret_variable_names(script_class)
    fields = {
        name: secret_field(var.as_field()) if name in secret_names else var.as_field()
        for name, var in visible_variables(script_class).items()
    }
    form_class = type(f'{script_class.__name__}Form', (ScriptInputForm,), fields)
    return form_class(data, files, initial=initial, script_class=script_class, user=user, prefix=prefix)


def _bindable(script_class, raw, strict):
    """
    Turn submitted JSON-like values into form data, as a browser would post them. Omitted variables take their
    declared default (as NetBox does for API and CLI input). Returns (data, errors): with `strict`, a value given
    for a hidden variable that differs from its default is an error rather than silently replaced.
    """
    data, errors = {}, {}
    visible = visible_variables(script_class)
    for name, var in script_class._get_vars().items():
        if isinstance(var, FileVar):
            continue
        if name not in visible:
            if strict and name in raw and var.bind_value(raw[name]) != _default_data(var):
                errors[name] = [_(
                    'This variable is not part of the form (Meta.fieldsets does not list it): it always takes its '
                    'default and cannot be set.'
                )]
            continue
        if name in raw:
            value = raw[name]
            multiple = isinstance(var, (MultiChoiceVar, MultiObjectVar))
            if isinstance(value, dict) or (isinstance(value, (list, tuple)) and not multiple):
                # A form would never post one; turned into text, `[1, 2]` would be taken as the string "[1, 2]".
                errors[name] = [_('Expected a single value, not a list or an object.') if not multiple
                                else _('Expected a list of values, not an object.')]
                continue
            data[name] = var.bind_value(value)
        elif var.default is not None:
            data[name] = _default_data(var)
    return data, errors


def validate_inputs(script_class, raw=None, files=None, user=None, strict=True):
    """
    Validate submitted inputs (a dict of JSON-like values, or a QueryDict from a web form) and files, as `user`
    (None: no view restriction). Returns ValidatedInputs or raises InputError with messages per variable. With
    `strict`, names that are not variables of the script are an error rather than silently dropped.
    """
    raw = raw if raw is not None else {}
    if not isinstance(raw, Mapping) and not hasattr(raw, 'getlist'):
        raise InputError({NON_FIELD_ERRORS: [
            _('Inputs must be an object mapping variable names to values, not {type}.').format(type=type(raw).__name__)
        ]})
    variables = script_class._get_vars()
    if strict:
        unknown = sorted(str(name) for name in set(raw) - set(variables) - set(EXECUTION_PARAMETERS)
                         - {'csrfmiddlewaretoken'})
        if unknown:
            raise InputError({NON_FIELD_ERRORS: [
                _('Unknown variable(s): {names}. This script takes: {known}.').format(
                    names=', '.join(unknown), known=', '.join(variables) or _('no variables')
                )
            ]})
    if hasattr(raw, 'getlist'):
        data = raw  # a web form's own post
    else:
        data, errors = _bindable(script_class, raw, strict)
        if errors:
            raise InputError(errors)
    form = build_form(script_class, data=data, files=files or {}, user=user)
    if not form.is_valid():
        raise InputError({
            name: [error['message'] for error in errors] for name, errors in form.errors.get_json_data().items()
        })
    cleaned = form.script_data
    secret_names = secret_variable_names(script_class)
    stored, secrets = {}, {}
    for name, var in variables.items():
        value = cleaned[name]
        if name in secret_names:
            stored[name] = SECRET_MASK if value not in (None, '') else None
            if value not in (None, ''):
                secrets[name] = var.serialize(value)
        else:
            stored[name] = var.serialize(value)
    return ValidatedInputs(cleaned=cleaned, stored=stored, secrets=secrets)


def form_initial_from_inputs(script_class, stored):
    """Initial form values from a run's stored inputs (re-run): secrets and files are left for the user to enter."""
    secret_names = secret_variable_names(script_class)
    initial = {}
    for name, var in script_class._get_vars().items():
        if name in secret_names or isinstance(var, FileVar) or name not in stored:
            continue
        initial[name] = stored[name]
    return initial
