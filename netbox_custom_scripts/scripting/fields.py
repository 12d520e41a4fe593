"""The form fields behind the variables: bounded multiple choices, object pickers checked in one query, local times."""
import importlib

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from netbox.plugins import get_plugin_config
from netbox.registry import registry
from utilities.forms.fields import DynamicModelChoiceField, DynamicModelMultipleChoiceField
from utilities.views import get_action_url

__all__ = (
    'BoundedModelMultipleChoiceField',
    'BoundedMultipleChoiceField',
    'DeferredURL',
    'LocalDateTimeField',
    'ObjectChoiceField',
    'check_item_count',
    'filterset_for_model',
    'max_multi_items',
)


def filterset_for_model(model):
    """
    NetBox's FilterSet for `model`, the one its REST API filters with (so query_params select on the server what
    the form's API-backed select offers), or None. NetBox registers filter sets as its apps' `filtersets` modules
    are imported, which only loading the URL configuration does; the CLI, a worker or a Python program may never
    load it, so the module is imported here.
    """
    label = model._meta.label_lower
    if label not in registry['filtersets']:
        module_name = f'{model._meta.app_config.name}.filtersets'
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        if label not in registry['filtersets']:
            # A filter set that is not registered (a plugin's, say): the module's FilterSet for the model.
            candidates = [
                value for value in vars(module).values()
                if isinstance(value, type) and getattr(getattr(value, '_meta', None), 'model', None) is model
            ]
            named = [value for value in candidates if value.__name__ == f'{model.__name__}FilterSet']
            return (named or candidates or [None])[0]
    return registry['filtersets'].get(label)


def max_multi_items():
    return get_plugin_config('netbox_custom_scripts', 'max_multi_items')


def check_item_count(values):
    """Refuse more values than the max_multi_items setting allows, before any work is done on them."""
    limit = max_multi_items()
    if isinstance(values, (list, tuple, set, frozenset)) and len(values) > limit:
        raise ValidationError(
            _('At most %(limit)s values can be given (setting max_multi_items); %(count)s were given.'),
            code='too_many', params={'limit': limit, 'count': len(values)},
        )


class BoundedMultipleChoiceField(forms.MultipleChoiceField):
    """MultipleChoiceField with an upper bound on the number of values."""

    def clean(self, value):
        check_item_count(value)
        return super().clean(value)


class _ValuesInFilter:
    """
    Narrows a bound field's queryset to the submitted values with one `IN` term. NetBox's field uses a filter that
    adds one OR term per value, and Django then clones that query once per value while cleaning: quadratic time.
    """

    def __init__(self, field_name):
        self.field_name = field_name

    def filter(self, queryset, values):
        values = [value for value in values if value not in (None, '', settings.FILTERS_NULL_CHOICE_VALUE)]
        return queryset.filter(**{f'{self.field_name}__in': values})


class DeferredURL:
    """A URL of one of NetBox's views, looked up when it is rendered (which needs NetBox's URL configuration)."""

    def __init__(self, model, action, rest_api=False):
        self.model = model
        self.action = action
        self.rest_api = rest_api

    def __bool__(self):
        return True

    def __str__(self):
        return get_action_url(self.model, action=self.action, rest_api=self.rest_api)


class DeferredURLsMixin:
    """
    NetBox's object fields look up their REST API URL (and the quick-add URL) when the form binds them, even to
    validate, and that loads NetBox's URL configuration. Inputs are validated in the CLI and in workers too, which
    never load it; these fields leave the URLs to be resolved when a page renders them.
    """

    def get_bound_field(self, form, field_name):
        self.widget.attrs.setdefault('data-url', DeferredURL(self.queryset.model, 'list', rest_api=True))
        quick_add, self.quick_add = self.quick_add, False
        try:
            bound_field = super().get_bound_field(form, field_name)
        finally:
            self.quick_add = quick_add
        if quick_add:
            # `$pk` names the object a model form edits; a script's form edits none.
            params = {key: value for key, value in self.quick_add_params.items() if value != '$pk'}
            self.widget.quick_add_context = {'url': DeferredURL(self.model, 'add'), 'params': params}
        return bound_field


class ObjectChoiceField(DeferredURLsMixin, DynamicModelChoiceField):
    """NetBox's single-object field, usable without NetBox's URL configuration."""


class BoundedModelMultipleChoiceField(DeferredURLsMixin, DynamicModelMultipleChoiceField):
    """
    NetBox's multi-object field, validated in one query and linear time, with an upper bound on the values, usable
    without NetBox's URL configuration.
    """
    filter = _ValuesInFilter

    def clean(self, value):
        check_item_count(value)
        return super().clean(value)

    def _check_values(self, value):
        key = self.to_field_name or 'pk'
        try:
            values = frozenset(value)
        except TypeError:
            raise ValidationError(self.error_messages['invalid_list'], code='invalid_list')
        model_field = self.queryset.model._meta.get_field(key) if key != 'pk' else self.queryset.model._meta.pk
        typed = {}
        for raw in values:
            self.validate_no_null_characters(raw)
            try:
                typed[raw] = model_field.to_python(raw)
            except (ValidationError, TypeError, ValueError):
                raise ValidationError(
                    self.error_messages['invalid_pk_value'], code='invalid_pk_value', params={'pk': raw},
                )
        queryset = self.queryset.filter(**{f'{key}__in': set(typed.values())})
        found = set(queryset.values_list(key, flat=True))
        missing = sorted((str(raw) for raw, value in typed.items() if value not in found), key=lambda v: (len(v), v))
        if missing:
            raise ValidationError(
                self.error_messages['invalid_choice'], code='invalid_choice', params={'value': missing[0]},
            )
        return queryset


class LocalDateTimeField(forms.DateTimeField):
    """
    A DateTimeField whose aware values are in the current time zone (a named zone, as the web form gives them), also
    when the value arrives with an offset (`2026-06-01T12:00:00+02:00`, as queued runs and API clients send it).
    """

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and settings.USE_TZ and timezone.is_aware(result):
            return timezone.localtime(result)
        return result
