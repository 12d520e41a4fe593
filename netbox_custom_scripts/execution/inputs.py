"""
The one validation path for a script's inputs, whichever entry point they come from (web form, REST API, CLI,
nbshell, schedules, event rules, re-runs).

Everything the form enforces is enforced here on the server: each variable's own checks, ObjectVar
`query_params` (including `$other_variable` references) and the user's permission to view the objects picked,
then the script's own `clean(data)`. Values are returned cleaned (for `run()`) and serialised (for the run
record, with secret values masked).
"""
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from netbox.registry import registry

from ..scripting.script import EXECUTION_PARAMETERS
from ..scripting.variables import FileVar, MultiObjectVar, ObjectVar

__all__ = (
    'InputError',
    'SECRET_MASK',
    'ValidatedInputs',
    'build_form',
    'form_initial_from_inputs',
    'validate_inputs',
)

# What the run record and the API show in place of a secret value.
SECRET_MASK = '********'


class InputError(ValidationError):
    """Invalid inputs: `error_dict` maps variable names (or `__all__`) to messages, as a Django form reports them."""


@dataclass
class ValidatedInputs:
    cleaned: dict                                 # what run() receives
    stored: dict                                  # JSON-safe, secrets masked: the run record
    secrets: dict = field(default_factory=dict)   # secret values, to hand to the worker sealed


def visible_variables(script_class):
    """The variables the form shows: those listed in Meta.fieldsets, if set; otherwise all of them."""
    variables = script_class._get_vars()
    if script_class.fieldsets:
        listed = [name for _title, names in script_class.fieldsets for name in names]
        return {name: variables[name] for name in listed if name in variables}
    return variables


class ScriptInputForm(forms.Form):
    """A form of the script's variables, restricted to what `user` may pick. Built by build_form()."""

    def __init__(self, *args, script_class, user=None, **kwargs):
        self.script_class = script_class
        self.user = user
        super().__init__(*args, **kwargs)
        self._restrict_object_fields()

    def _raw_value(self, name):
        if not self.is_bound:
            return None
        value = self.data.getlist(name) if hasattr(self.data, 'getlist') else self.data.get(name)
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
        """Filter the choices as the form's API-backed select does, with the model's own filterset."""
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
        filterset_class = registry['filtersets'].get(var.model._meta.label_lower)
        if filterset_class is None:
            return queryset.filter(**{key: values[0] for key, values in params.items()})
        filterset = filterset_class(MultiValueDict(params), queryset=queryset)
        if not filterset.is_valid():
            return queryset.none()
        return filterset.qs

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        script = self.script_class()
        data = complete_data(self.script_class, cleaned)
        try:
            script.clean(data)
        except ValidationError as exc:
            if hasattr(exc, 'error_dict'):
                for name, errors in exc.error_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(None, exc)
        return cleaned


def build_form(script_class, data=None, files=None, initial=None, user=None, prefix=None):
    """The input form of a script: its visible variables, in form order."""
    fields = {name: var.as_field() for name, var in visible_variables(script_class).items()}
    form_class = type(f'{script_class.__name__}Form', (ScriptInputForm,), fields)
    return form_class(data, files, initial=initial, script_class=script_class, user=user, prefix=prefix)


def complete_data(script_class, cleaned):
    """run()'s data: every variable, those the form does not show holding their default."""
    data = {}
    for name, var in script_class._get_vars().items():
        data[name] = cleaned[name] if name in cleaned else var.default
    return data


def _bindable(script_class, raw):
    """
    Turn submitted values into form data: omitted variables take their declared default (as NetBox does for API
    and CLI input), and JSON values become what a browser would post.
    """
    data = {}
    for name, var in visible_variables(script_class).items():
        if isinstance(var, FileVar):
            continue
        if name in raw:
            value = raw[name]
        elif var.default is not None:
            value = var.serialize(var.default)
        else:
            continue
        if isinstance(var, MultiObjectVar) or isinstance(value, (list, tuple)):
            data[name] = [_form_value(v) for v in (value or [])]
        else:
            data[name] = _form_value(value)
    return data


def _form_value(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def validate_inputs(script_class, raw=None, files=None, user=None, strict=True):
    """
    Validate submitted inputs (a dict of JSON-like values, or a QueryDict from a web form) and files. Returns
    ValidatedInputs or raises InputError with messages per variable. With `strict`, names that are not variables
    of the script are an error rather than silently dropped.
    """
    raw = raw if raw is not None else {}
    variables = script_class._get_vars()
    if strict:
        unknown = sorted(set(raw) - set(variables) - set(EXECUTION_PARAMETERS) - {'csrfmiddlewaretoken'})
        if unknown:
            raise InputError({'__all__': [
                _('Unknown variable(s): {names}. This script takes: {known}.').format(
                    names=', '.join(unknown), known=', '.join(variables) or _('no variables')
                )
            ]})
    data = raw if hasattr(raw, 'getlist') else _bindable(script_class, raw)
    form = build_form(script_class, data=data, files=files or {}, user=user)
    if not form.is_valid():
        raise InputError({
            name: [error['message'] for error in errors] for name, errors in form.errors.get_json_data().items()
        })
    cleaned = complete_data(script_class, form.cleaned_data)
    secret_names = script_class.secret_variable_names()
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
    secret_names = script_class.secret_variable_names()
    initial = {}
    for name, var in script_class._get_vars().items():
        if name in secret_names or isinstance(var, FileVar) or name not in stored:
            continue
        initial[name] = stored[name]
    return initial
