"""
Typed input variables. A variable declares one input of a script; it knows the Django form field that validates
it, how to describe itself to API clients, and how to store a cleaned value in a run record.

Constructors take their own options positionally first (as NetBox's built-in variables do), so `label`,
`description`, `default`, `required` and `widget` are passed by keyword.
"""
import datetime
import decimal

import netaddr
from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from ipam.formfields import IPAddressFormField, IPNetworkFormField
from ipam.validators import MaxPrefixLengthValidator, MinPrefixLengthValidator, prefix_validator
from netbox.config import get_config
from utilities.forms import add_blank_choice
from utilities.forms.widgets import DatePicker, DateTimePicker
from utilities.html import clean_html

from .fields import (
    BoundedModelMultipleChoiceField,
    BoundedMultipleChoiceField,
    LocalDateTimeField,
    ObjectChoiceField,
)

__all__ = (
    'BooleanVar',
    'ChoiceVar',
    'DateTimeVar',
    'DateVar',
    'DecimalVar',
    'FileVar',
    'IPAddressVar',
    'IPAddressWithMaskVar',
    'IPNetworkVar',
    'IntegerVar',
    'MultiChoiceVar',
    'MultiObjectVar',
    'ObjectVar',
    'ScriptVariable',
    'SecretVar',
    'StringVar',
    'TextVar',
)


class ScriptVariable:
    """Base class of every input variable."""
    form_field = forms.CharField
    # Secret values are never stored, logged or shown again (SecretVar, or Meta.sensitive_variables).
    secret = False

    def __init__(self, label='', description='', default=None, required=True, widget=None):
        self.label = label
        self.description = description
        self.default = default
        self.required = required
        self.widget = widget
        self.field_attrs = {}

    @property
    def type_name(self):
        return type(self).__name__

    def get_field_attrs(self):
        """Keyword arguments for `form_field`, built fresh so no field shares state with another."""
        attrs = dict(self.field_attrs)
        attrs['required'] = self.required
        if self.label:
            attrs['label'] = self.label
        if self.description:
            # Rendered as HTML by NetBox's form templates: sanitised, as the log's Markdown is.
            attrs['help_text'] = clean_html(str(self.description), get_config().ALLOWED_URL_SCHEMES)
        if self.default is not None:
            attrs['initial'] = self.default
        if self.widget:
            attrs['widget'] = self.widget
        return attrs

    def as_field(self):
        """The Django form field that validates this variable."""
        field = self.form_field(**self.get_field_attrs())
        if not isinstance(field.widget, (forms.CheckboxInput, forms.HiddenInput)):
            css = field.widget.attrs.get('class', '')
            field.widget.attrs['class'] = f'{css} form-control'.strip()
        return field

    def describe(self):
        """A JSON-safe description of the variable, for API clients building their own forms."""
        description = {
            'type': self.type_name,
            'label': str(self.label) if self.label else '',
            'description': str(self.description) if self.description else '',
            'required': self.required,
            'default': None if self.secret else self._described_default(),
            'secret': self.secret,
        }
        description.update(self.describe_options())
        return description

    def _described_default(self):
        # A default NetBox tolerates (the form shows it as given) must not stop the module loading here.
        try:
            return self.serialize(self.default)
        except Exception:
            return str(self.default)

    def describe_options(self):
        return {}

    def serialize(self, value):
        """A JSON-safe form of a cleaned value, for the run record (and re-running with the same inputs)."""
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        return str(value)

    def bind_value(self, value):
        """
        What a browser would post for a JSON-like `value` (from the REST API, the CLI, nbshell or a stored run), so
        that every entry point is validated by the same form field in the same way.
        """
        if value is None:
            return ''
        if isinstance(value, bool):
            return 'true' if value else 'false'
        return str(value)


class StringVar(ScriptVariable):
    """A line of text, optionally bounded in length and matched against a regular expression."""

    def __init__(self, min_length=None, max_length=None, regex=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        if min_length is not None:
            self.field_attrs['min_length'] = min_length
        if max_length is not None:
            self.field_attrs['max_length'] = max_length
        if regex:
            pattern = getattr(regex, 'pattern', regex)
            self.field_attrs['validators'] = [
                RegexValidator(
                    regex=regex, message=_('Invalid value. Must match regex: {regex}').format(regex=pattern),
                    code='invalid',
                )
            ]

    def describe_options(self):
        return {
            'min_length': self.min_length,
            'max_length': self.max_length,
            'regex': getattr(self.regex, 'pattern', self.regex),
        }


class SecretVar(StringVar):
    """
    A secret such as a password or an API key. The value reaches `run()` but is never stored in the run record,
    written to a log, shown in a form again or returned by the API. Re-running a script asks for it again.
    """
    secret = True

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('widget', forms.PasswordInput(render_value=False))
        super().__init__(*args, **kwargs)


class TextVar(ScriptVariable):
    """Free-form, multi-line text."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('widget', forms.Textarea)
        super().__init__(*args, **kwargs)


class IntegerVar(ScriptVariable):
    """A whole number, optionally bounded (0 is a valid bound)."""
    form_field = forms.IntegerField

    def __init__(self, min_value=None, max_value=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_value = min_value
        self.max_value = max_value
        if min_value is not None:
            self.field_attrs['min_value'] = min_value
        if max_value is not None:
            self.field_attrs['max_value'] = max_value

    def describe_options(self):
        return {'min_value': self.min_value, 'max_value': self.max_value}


class DecimalVar(ScriptVariable):
    """A decimal number, optionally bounded and limited in digits."""
    form_field = forms.DecimalField

    def __init__(self, min_value=None, max_value=None, max_digits=None, decimal_places=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_value = min_value
        self.max_value = max_value
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        for key in ('min_value', 'max_value', 'max_digits', 'decimal_places'):
            if (value := getattr(self, key)) is not None:
                self.field_attrs[key] = value

    def describe_options(self):
        return {
            'min_value': self.serialize(self.min_value),
            'max_value': self.serialize(self.max_value),
            'max_digits': self.max_digits,
            'decimal_places': self.decimal_places,
        }

    def serialize(self, value):
        return str(value) if isinstance(value, decimal.Decimal) else super().serialize(value)


class BooleanVar(ScriptVariable):
    """True or false, shown as a checkbox. Never required: unchecked means False."""
    form_field = forms.BooleanField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.required = False

    def bind_value(self, value):
        # As BooleanField reads text: 'false' and '0' (any case) are False. Django's checkbox widget would turn a
        # submitted '0' into True before the field sees it; a JSON 0 is False, as it is for NetBox's API.
        if isinstance(value, str):
            value = value.strip().lower() not in ('', 'false', '0')
        return 'true' if value else 'false'


class ChoiceVar(ScriptVariable):
    """One of a fixed list of `(value, label)` choices; the value is what the script receives."""
    form_field = forms.ChoiceField

    def __init__(self, choices, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A sequence of (value, label) pairs (optionally grouped: (group label, pairs)), a NetBox ChoiceSet, or a dict.
        self.choices = tuple(choices.items() if isinstance(choices, dict) else choices)
        self.field_attrs['choices'] = add_blank_choice(self.choices)

    def describe_options(self):
        def describe(choices):
            described = []
            for value, label, *_extra in choices:
                if isinstance(label, (list, tuple)):  # a group: (group label, choices)
                    described.append([str(value), describe(label)])
                else:
                    described.append([self.serialize(value), str(label)])
            return described

        return {'choices': describe(self.choices)}


class MultiChoiceVar(ChoiceVar):
    """Any number of a fixed list of `(value, label)` choices."""
    form_field = BoundedMultipleChoiceField

    def __init__(self, choices, *args, **kwargs):
        super().__init__(choices, *args, **kwargs)
        self.field_attrs['choices'] = self.choices

    def serialize(self, value):
        if isinstance(value, (list, tuple)):
            return [super(MultiChoiceVar, self).serialize(v) for v in value]
        return super().serialize(value)

    def bind_value(self, value):
        if value in (None, ''):
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        return [super(MultiChoiceVar, self).bind_value(v) for v in values]


class DateVar(ScriptVariable):
    """A calendar date (a `datetime.date`)."""
    form_field = forms.DateField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('widget', DatePicker())
        super().__init__(*args, **kwargs)

    def serialize(self, value):
        return value.isoformat() if isinstance(value, datetime.date) else super().serialize(value)


class DateTimeVar(DateVar):
    """A date and time (a `datetime.datetime`)."""
    form_field = LocalDateTimeField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('widget', DateTimePicker())
        super().__init__(*args, **kwargs)


class ObjectVar(ScriptVariable):
    """
    One NetBox object of `model`, picked from a searchable list.

    :param query_params: filters applied to the choices, as REST API query parameters; a value of `'$name'` is the
        value of the script's `name` variable. They are enforced on the server too, not only in the form.
    :param context: how to render options (`value`, `label`, `description`, `depth`, `disabled`, `parent`, `count`)
    :param null_option: label of a "none" choice; choosing it passes None to the script
    :param selector: offer NetBox's advanced object selector
    :param quick_add: offer to create a new object inline
    """
    form_field = ObjectChoiceField

    def __init__(self, model, query_params=None, context=None, null_option=None, selector=False, quick_add=False,
                 *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not (isinstance(model, type) and issubclass(model, Model)):
            raise TypeError(f'{type(self).__name__} needs a model class, not {model!r}')
        self.model = model
        self.query_params = dict(query_params or {})
        self.context = context
        self.null_option = null_option
        self.selector = selector
        self.quick_add = quick_add

    def get_field_attrs(self):
        attrs = super().get_field_attrs()
        attrs.update({
            'queryset': self.model.objects.all(),
            'query_params': self.query_params,
            'context': self.context,
            'null_option': self.null_option,
            'selector': self.selector,
            'quick_add': self.quick_add,
        })
        return attrs

    @property
    def referenced_variables(self):
        """Names of the other variables that `query_params` refer to with `$name`."""
        names = []
        for value in self.query_params.values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, str) and item.startswith('$'):
                    names.append(item[1:])
        return names

    def describe_options(self):
        return {
            'model': self.model._meta.label_lower,
            'query_params': self.query_params,
            'null_option': self.null_option,
        }

    def serialize(self, value):
        if value is None:
            return None
        if isinstance(value, Model):
            return value.pk
        return super().serialize(value)

    def bind_value(self, value):
        if value is None and self.null_option is not None:
            return settings.FILTERS_NULL_CHOICE_VALUE  # the "none" choice, as the form posts it
        return super().bind_value(value.pk if isinstance(value, Model) else value)


class MultiObjectVar(ObjectVar):
    """Any number of NetBox objects of `model` (a QuerySet; with `null_option`, None may come first)."""
    form_field = BoundedModelMultipleChoiceField

    def serialize(self, value):
        if isinstance(value, (QuerySet, list, tuple)):
            # Objects or their IDs (a default is often written as `[1, 2]`).
            return [item.pk if isinstance(item, Model) else item for item in value]
        return super().serialize(value)

    def bind_value(self, value):
        if value is None or value == '':
            return []
        values = list(value) if isinstance(value, (QuerySet, list, tuple)) else [value]
        return [
            super(MultiObjectVar, self).bind_value(item)
            for item in values if item is not None or self.null_option is not None
        ]


class FileVar(ScriptVariable):
    """
    An uploaded file, held in memory for the run only; the run record keeps its name and size, never its content.
    """
    form_field = forms.FileField

    def serialize(self, value):
        if value is None:
            return None
        return {'name': getattr(value, 'name', ''), 'size': getattr(value, 'size', None)}


class IPAddressVar(ScriptVariable):
    """An IPv4 or IPv6 address without a mask (a `netaddr.IPAddress`)."""
    form_field = IPAddressFormField


class IPAddressWithMaskVar(ScriptVariable):
    """An IPv4 or IPv6 address with a mask (a `netaddr.IPNetwork`)."""
    form_field = IPNetworkFormField


class IPNetworkVar(ScriptVariable):
    """An IPv4 or IPv6 prefix (a `netaddr.IPNetwork`), optionally bounded in prefix length."""
    form_field = IPNetworkFormField

    def __init__(self, min_prefix_length=None, max_prefix_length=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_prefix_length = min_prefix_length
        self.max_prefix_length = max_prefix_length
        validators = [prefix_validator]
        if min_prefix_length is not None:
            validators.append(MinPrefixLengthValidator(min_prefix_length))
        if max_prefix_length is not None:
            validators.append(MaxPrefixLengthValidator(max_prefix_length))
        self.field_attrs['validators'] = validators

    def describe_options(self):
        return {'min_prefix_length': self.min_prefix_length, 'max_prefix_length': self.max_prefix_length}

    def serialize(self, value):
        return str(value) if isinstance(value, netaddr.IPNetwork) else super().serialize(value)
