"""
Every input variable type and every option it documents, checked through the one validation path
(validate_inputs, which the web form, REST API, CLI and nbshell share) and the form the run page shows:

- common options: default (form initial, and the value when omitted), description (help text), label, required
  (True unless said otherwise), widget;
- StringVar min_length/max_length/regex, TextVar, IntegerVar and DecimalVar bounds (0 is a bound), BooleanVar
  (never required, False when unchecked, JSON false/0 are False), ChoiceVar/MultiChoiceVar ((value, label) pairs:
  the value is submitted, anything else rejected), DateVar/DateTimeVar, ObjectVar/MultiObjectVar (model, null_option
  -> None, context, selector, quick_add), FileVar, the IP variables (netaddr objects, prefix length bounds);
- SecretVar and Meta.sensitive_variables: run() gets the value, the stored inputs only '********'.

What run() receives is checked on `cleaned`; what the run record keeps on `stored`.
"""
import datetime
import decimal

import netaddr
import pytest
from dcim.choices import SiteStatusChoices
from dcim.models import Site
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from utilities.forms.widgets import DatePicker, DateTimePicker

from netbox_custom_scripts.execution.inputs import SECRET_MASK, InputError, build_form, validate_inputs
from netbox_custom_scripts.scripts import (
    BooleanVar,
    ChoiceVar,
    DateTimeVar,
    DateVar,
    DecimalVar,
    FileVar,
    IntegerVar,
    IPAddressVar,
    IPAddressWithMaskVar,
    IPNetworkVar,
    MultiChoiceVar,
    MultiObjectVar,
    ObjectVar,
    Script,
    SecretVar,
    StringVar,
    TextVar,
)
from netbox_custom_scripts.testing import run_script_in_transaction


def script_with(meta=None, **variables):
    attrs = dict(variables)
    if meta:
        attrs['Meta'] = type('Meta', (), meta)
    return type('VariablesScript', (Script,), attrs)


def clean(var, value=..., files=None):
    """run()'s value of a single variable `x` given `value` (... = omitted); raises InputError."""
    data = {} if value is ... else {'x': value}
    return validate_inputs(script_with(x=var), data, files=files).cleaned['x']


def errors(var, value=..., files=None):
    with pytest.raises(InputError) as excinfo:
        clean(var, value, files)
    return excinfo.value.message_dict['x']


def field(var):
    return build_form(script_with(x=var)).fields['x']


# Common options

def test_common_options_reach_the_form_field():
    f = field(StringVar(label='Site name', description='The new site', default='ams', widget=forms.Textarea))
    assert (f.label, f.help_text, f.initial, f.required) == ('Site name', 'The new site', 'ams', True)
    assert isinstance(f.widget, forms.Textarea) and 'form-control' in f.widget.attrs['class']
    bare = field(StringVar())
    assert (bare.label, bare.help_text, bare.initial, bare.required) == (None, '', None, True)


def test_required_is_the_default():
    assert errors(StringVar()) == ['This field is required.']
    assert errors(IntegerVar(), None) == ['This field is required.']
    assert clean(StringVar(required=False)) == ''
    assert clean(IntegerVar(required=False)) is None
    assert clean(ObjectVar(Site, required=False)) is None


@pytest.mark.django_db
def test_default_is_the_value_when_omitted():
    site = Site.objects.create(name='dflt', slug='dflt')
    assert clean(StringVar(default='world')) == 'world'
    assert clean(IntegerVar(default=0)) == 0
    assert clean(DecimalVar(default=decimal.Decimal('1.5'))) == decimal.Decimal('1.5')
    assert clean(BooleanVar(default=True)) is True
    assert clean(ChoiceVar((('a', 'A'), ('b', 'B')), default='b')) == 'b'
    assert clean(MultiChoiceVar((('a', 'A'), ('b', 'B')), default=['a', 'b'])) == ['a', 'b']
    assert clean(DateVar(default=datetime.date(2024, 1, 31))) == datetime.date(2024, 1, 31)
    assert clean(IPNetworkVar(default='10.0.0.0/8')) == netaddr.IPNetwork('10.0.0.0/8')
    assert clean(ObjectVar(Site, default=site.pk)) == site
    assert clean(ObjectVar(Site, default=site)) == site
    # ... and is validated like a submitted value.
    assert errors(IntegerVar(min_value=1, default=0)) == ['Ensure this value is greater than or equal to 1.']
    # A submitted value wins over the default.
    assert clean(StringVar(default='world'), 'you') == 'you'


def test_widget_instances_are_not_shared_between_forms():
    var = StringVar(widget=forms.TextInput(attrs={'placeholder': 'name'}))
    first, second = field(var), field(var)
    assert first.widget is not second.widget and first.widget.attrs['placeholder'] == 'name'
    first.widget.attrs['placeholder'] = 'changed'
    assert field(var).widget.attrs['placeholder'] == 'name'


# Text

def test_string_length_and_regex():
    assert errors(StringVar(min_length=3), 'ab') == ['Ensure this value has at least 3 characters (it has 2).']
    assert errors(StringVar(max_length=3), 'abcd') == ['Ensure this value has at most 3 characters (it has 4).']
    fixed = StringVar(min_length=2, max_length=2)
    assert clean(fixed, 'ab') == 'ab' and errors(fixed, 'a') and errors(fixed, 'abc')
    slug = StringVar(regex=r'^[a-z0-9-]+$')
    assert clean(slug, 'ams-1') == 'ams-1'
    assert errors(slug, 'AMS 1') == ['Invalid value. Must match regex: ^[a-z0-9-]+$']
    # A search, as in NetBox: anchor the pattern to match the whole value.
    assert clean(StringVar(regex='b'), 'abc') == 'abc'
    # A compiled pattern works, and is described by its text.
    import re

    compiled = StringVar(regex=re.compile(r'^\d+$'))
    assert clean(compiled, '42') == '42' and errors(compiled, 'x') == [r'Invalid value. Must match regex: ^\d+$']
    assert compiled.describe()['regex'] == r'^\d+$'


def test_text_var_is_a_textarea_that_keeps_lines():
    assert isinstance(field(TextVar()).widget, forms.Textarea)
    assert clean(TextVar(), 'one\ntwo') == 'one\ntwo'
    # Unlike NetBox, a widget given explicitly is honoured.
    assert isinstance(field(TextVar(widget=forms.TextInput)).widget, forms.TextInput)


# Numbers

@pytest.mark.parametrize('var, value, accepted', [
    (IntegerVar(min_value=0), -1, False),
    (IntegerVar(min_value=0), 0, True),
    (IntegerVar(max_value=0), 1, False),
    (IntegerVar(max_value=0), -5, True),
    (IntegerVar(min_value=1, max_value=5), 6, False),
    (IntegerVar(min_value=1, max_value=5), '5', True),
    (IntegerVar(), 'five', False),
    (DecimalVar(min_value=0), '-0.01', False),
    (DecimalVar(max_value=0), '0.01', False),
    (DecimalVar(min_value=decimal.Decimal('0.5')), '0.5', True),
    (DecimalVar(max_digits=4, decimal_places=2), '12.34', True),
    (DecimalVar(max_digits=4, decimal_places=2), '12.345', False),
    (DecimalVar(max_digits=4, decimal_places=2), '123.4', False),
])
def test_number_bounds_including_zero(var, value, accepted):
    if accepted:
        clean(var, value)
    else:
        errors(var, value)


def test_numbers_come_back_as_numbers():
    assert clean(IntegerVar(), '12') == 12
    assert clean(DecimalVar(), '1.10') == decimal.Decimal('1.10')
    inputs = validate_inputs(script_with(x=DecimalVar()), {'x': '1.10'})
    assert inputs.stored == {'x': '1.10'}  # exact, not a float
    assert IntegerVar(min_value=0, max_value=9).describe()['min_value'] == 0


# Booleans

@pytest.mark.parametrize('value, expected', [
    (True, True), (False, False), ('true', True), ('false', False), ('False', False), (1, True), (0, False),
    ('1', True), ('0', False), ('on', True), ('', False), (None, False), (..., False),
])
def test_boolean_values_from_json_and_the_command_line(value, expected):
    assert clean(BooleanVar(), value) is expected


def test_boolean_is_never_required_and_unchecked_means_false():
    var = BooleanVar(required=True)
    assert var.required is False and field(var).required is False
    assert clean(var) is False
    # In the web form an unchecked box is not posted: False, even when the default is True (NetBox back-fills the
    # default there, so such a box cannot be unchecked).
    checked_by_default = script_with(x=BooleanVar(default=True))
    assert validate_inputs(checked_by_default, QueryDict('')).cleaned['x'] is False
    assert validate_inputs(checked_by_default, QueryDict('x=on')).cleaned['x'] is True
    assert validate_inputs(checked_by_default, {}).cleaned['x'] is True  # API/CLI: omitted takes the default
    assert field(BooleanVar()).widget.attrs.get('class', '') == ''  # no form-control on a checkbox


# Choices

DIRECTIONS = (('n', 'North'), ('s', 'South'), ('e', 'East'), ('w', 'West'))


def test_choice_submits_the_value_not_the_label():
    var = ChoiceVar(choices=DIRECTIONS)
    assert clean(var, 'n') == 'n'
    assert errors(var, 'North') == ['Select a valid choice. North is not one of the available choices.']
    assert errors(var, 'x') and errors(var)
    assert list(field(var).choices)[0] == (None, '---------')  # a blank choice first, nothing forced
    assert var.describe()['choices'][0] == ['n', 'North']


def test_choice_sources():
    assert clean(ChoiceVar(choices=SiteStatusChoices), 'planned') == 'planned'
    assert clean(ChoiceVar(choices={'a': 'Alpha', 'b': 'Beta'}), 'b') == 'b'
    assert clean(ChoiceVar(choices=((1, 'One'), (2, 'Two'))), 2) == '2'  # a form field returns text, as NetBox's
    grouped = ChoiceVar(choices=(('Europe', (('ams', 'Amsterdam'), ('par', 'Paris'))), ('nyc', 'New York')))
    assert clean(grouped, 'par') == 'par' and errors(grouped, 'Europe')
    assert grouped.describe()['choices'] == [['Europe', [['ams', 'Amsterdam'], ['par', 'Paris']]], ['nyc', 'New York']]


def test_multiple_choices():
    var = MultiChoiceVar(choices=DIRECTIONS)
    assert clean(var, ['n', 'w']) == ['n', 'w']
    assert clean(var, 's') == ['s']  # one value is a list of one
    assert errors(var, ['n', 'x']) == ['Select a valid choice. x is not one of the available choices.']
    assert errors(var, []) == ['This field is required.']
    assert clean(MultiChoiceVar(choices=DIRECTIONS, required=False), []) == []
    assert (None, '---------') not in list(field(var).choices)
    assert validate_inputs(script_with(x=var), {'x': ['e']}).stored == {'x': ['e']}


# Dates

def test_dates():
    assert clean(DateVar(), '2024-02-29') == datetime.date(2024, 2, 29)
    assert errors(DateVar(), '2023-02-29') == ['Enter a valid date.']
    moment = clean(DateTimeVar(), '2024-01-02T03:04:05+00:00')
    assert moment == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert errors(DateTimeVar(), 'soon') == ['Enter a valid date/time.']
    assert isinstance(field(DateVar()).widget, DatePicker)
    assert isinstance(field(DateTimeVar()).widget, DateTimePicker)
    stored = validate_inputs(script_with(d=DateVar(), t=DateTimeVar()), {'d': '2024-02-29', 't': '2024-01-02 03:04'})
    assert stored.stored == {'d': '2024-02-29', 't': '2024-01-02T03:04:00+00:00'}
    # A stored value validates again to the same thing (re-runs, queued runs).
    again = validate_inputs(script_with(d=DateVar(), t=DateTimeVar()), stored.stored)
    assert again.cleaned == stored.cleaned


# Objects

@pytest.fixture
def sites(db):
    return [Site.objects.create(name=name, slug=name) for name in ('ams', 'par', 'nyc')]


def test_object_var_returns_the_object(sites):
    assert clean(ObjectVar(model=Site), sites[0].pk) == sites[0]
    assert clean(ObjectVar(model=Site), str(sites[0].pk)) == sites[0]
    assert errors(ObjectVar(model=Site), 999999) == [
        'Select a valid choice. That choice is not one of the available choices.'
    ]
    assert errors(ObjectVar(model=Site), 'ams')
    assert validate_inputs(script_with(x=ObjectVar(Site)), {'x': sites[1].pk}).stored == {'x': sites[1].pk}


def test_null_option_is_none(sites):
    var = ObjectVar(model=Site, null_option='No site')
    assert clean(var, 'null') is None
    assert clean(var, None) is None  # JSON null, e.g. a re-run of a run that chose "No site"
    assert clean(var, sites[0].pk) == sites[0]
    assert errors(ObjectVar(model=Site), None) == ['This field is required.']  # no null option: required
    assert errors(ObjectVar(model=Site), 'null')
    multi = MultiObjectVar(model=Site, null_option='None')
    assert clean(multi, ['null', sites[0].pk]) == [None, sites[0]]
    assert clean(multi, [None, sites[0].pk]) == [None, sites[0]]


def test_multi_object_var_returns_a_queryset(sites):
    value = clean(MultiObjectVar(model=Site), [sites[0].pk, sites[2].pk])
    assert set(value) == {sites[0], sites[2]} and hasattr(value, 'filter')
    assert clean(MultiObjectVar(model=Site), sites[1].pk).get() == sites[1]  # one ID is a list of one
    assert errors(MultiObjectVar(model=Site), [sites[0].pk, 999999])
    assert errors(MultiObjectVar(model=Site), []) == ['This field is required.']
    stored = validate_inputs(script_with(x=MultiObjectVar(Site)), {'x': [sites[0].pk, sites[2].pk]}).stored
    assert sorted(stored['x']) == sorted([sites[0].pk, sites[2].pk])


def test_object_var_presentation_options(db):
    f = field(ObjectVar(model=Site, context={'description': 'slug'}, selector=True, quick_add=True,
                        null_option='None', query_params={'status': 'active'}))
    assert f.model is Site and f.context == {'description': 'slug'}
    assert (f.selector, f.quick_add, f.null_option) == (True, True, 'None')
    assert f.query_params == {'status': 'active'}
    assert f.widget_attrs(f.widget)['selector'] == 'dcim.site'
    described = ObjectVar(model=Site, query_params={'region_id': '$region'}, null_option='x').describe()
    assert (described['model'], described['query_params'], described['null_option']) == (
        'dcim.site', {'region_id': '$region'}, 'x'
    )


def test_object_var_needs_a_model_class():
    with pytest.raises(TypeError, match='needs a model class'):
        ObjectVar(model='dcim.site')


# Files

def test_file_var(db):
    upload = SimpleUploadedFile('sites.csv', b'name\nams\n', content_type='text/csv')
    script_class = script_with(x=FileVar())
    inputs = validate_inputs(script_class, {}, files={'x': upload})
    assert inputs.cleaned['x'].read() == b'name\nams\n'
    assert inputs.stored == {'x': {'name': 'sites.csv', 'size': 9}}  # never the content
    assert errors(FileVar()) == ['This field is required.']
    assert clean(FileVar(required=False)) is None


def test_file_content_reaches_run(db):
    class ReadsFile(Script):
        upload = FileVar()

        def run(self, data, commit):
            return data['upload'].read().decode()

    run = run_script_in_transaction(
        ReadsFile, files={'upload': SimpleUploadedFile('a.txt', b'hello file')}, commit=False
    )
    assert run.status == 'completed' and run.output == 'hello file'


# IP addresses and networks

def test_ip_variables_return_netaddr_objects():
    address = clean(IPAddressVar(), '192.0.2.1')
    assert isinstance(address, netaddr.IPAddress) and str(address) == '192.0.2.1'
    assert errors(IPAddressVar(), '192.0.2.1/24')
    with_mask = clean(IPAddressWithMaskVar(), '2001:db8::1/64')
    assert isinstance(with_mask, netaddr.IPNetwork) and str(with_mask) == '2001:db8::1/64'
    assert errors(IPAddressWithMaskVar(), '192.0.2.1') == ['CIDR mask (e.g. /24) is required.']
    network = clean(IPNetworkVar(), '10.0.0.0/8')
    assert isinstance(network, netaddr.IPNetwork) and network.prefixlen == 8
    assert errors(IPNetworkVar(), '10.0.0.1/8') == ['10.0.0.1/8 is not a valid prefix. Did you mean 10.0.0.0/8?']
    assert validate_inputs(script_with(x=IPAddressWithMaskVar()), {'x': '192.0.2.1/24'}).stored == {
        'x': '192.0.2.1/24'
    }


@pytest.mark.parametrize('value, accepted', [
    ('10.0.0.0/16', True), ('10.0.0.0/24', True), ('10.0.0.0/15', False), ('10.0.0.0/25', False),
])
def test_prefix_length_bounds(value, accepted):
    var = IPNetworkVar(min_prefix_length=16, max_prefix_length=24)
    if accepted:
        assert clean(var, value) == netaddr.IPNetwork(value)
    else:
        assert errors(var, value)


def test_prefix_length_bound_of_zero():
    assert clean(IPNetworkVar(min_prefix_length=0, max_prefix_length=0), '0.0.0.0/0').prefixlen == 0
    assert errors(IPNetworkVar(max_prefix_length=0), '10.0.0.0/8')


# Secrets

def test_secret_var_value_is_cleaned_but_never_stored():
    script_class = script_with(user=StringVar(), password=SecretVar(min_length=8))
    inputs = validate_inputs(script_class, {'user': 'bob', 'password': 'correct horse'})
    assert inputs.cleaned == {'user': 'bob', 'password': 'correct horse'}
    assert inputs.stored == {'user': 'bob', 'password': SECRET_MASK}
    assert inputs.secrets == {'password': 'correct horse'}
    # Validation messages never repeat the value.
    with pytest.raises(InputError) as excinfo:
        validate_inputs(script_class, {'user': 'bob', 'password': 'short'})
    assert 'short' not in str(excinfo.value.message_dict)
    # The form never renders it back, and the description has no default.
    f = build_form(script_class).fields['password']
    assert isinstance(f.widget, forms.PasswordInput) and f.widget.render_value is False
    assert SecretVar(default='x').describe()['default'] is None and SecretVar().describe()['secret'] is True


def test_sensitive_variables_mask_any_variable():
    script_class = script_with(meta={'sensitive_variables': ('token', 'pin')}, token=StringVar(),
                               pin=IntegerVar(), note=StringVar(required=False))
    inputs = validate_inputs(script_class, {'token': 'abc123', 'pin': 1234})
    assert inputs.cleaned == {'token': 'abc123', 'pin': 1234, 'note': ''}
    assert inputs.stored == {'token': SECRET_MASK, 'pin': SECRET_MASK, 'note': ''}
    assert inputs.secrets == {'token': 'abc123', 'pin': 1234}
    assert script_class.secret_variable_names() == {'token', 'pin'}


@pytest.mark.django_db
def test_secret_reaches_run_and_the_run_record_keeps_the_mask():
    class Login(Script):
        class Meta:
            sensitive_variables = ('api_key',)

        username = StringVar()
        password = SecretVar()
        api_key = StringVar()

        def run(self, data, commit):
            return f'{data["username"]}:{len(data["password"])}:{data["api_key"][::-1]}'

    run = run_script_in_transaction(Login, {'username': 'bob', 'password': 'hunter22', 'api_key': 'abc'})
    assert run.status == 'completed' and run.output == 'bob:8:cba'
    assert run.inputs == {'username': 'bob', 'password': SECRET_MASK, 'api_key': SECRET_MASK}


def test_a_datetime_with_an_offset_comes_back_in_the_current_named_time_zone():
    """As NetBox's form gives it: queued runs and API clients send an offset, the script still gets the zone."""
    import zoneinfo

    from django.utils import timezone

    with timezone.override(zoneinfo.ZoneInfo('Europe/Amsterdam')):
        value = clean(DateTimeVar(), '2026-06-01T12:00:00+02:00')
        typed = clean(DateTimeVar(), '2026-06-01 12:00')
    assert value == typed
    assert getattr(value.tzinfo, 'key', None) == getattr(typed.tzinfo, 'key', None) == 'Europe/Amsterdam'
