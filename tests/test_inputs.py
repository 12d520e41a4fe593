"""
The one validation path for a script's inputs (execution/inputs.py), shared by the web form, the REST API, the CLI,
nbshell, schedules and re-runs:

- ObjectVar/MultiObjectVar query_params are enforced on the server - static values, lists of values, `$other`
  references (to a submitted variable, a list, or a hidden variable's default) - so an object outside the filter is
  rejected even when its ID is submitted directly, and the form's choices are filtered the same way;
- a user can only pick objects they may view (a constrained view ObjectPermission holds; no permission, no objects);
- the script's clean(data) runs last, sees every variable, and its ValidationError (a message, or a dict by
  variable) becomes per-variable errors of the form, the API (400 under "data") and the CLI (refused, exit 4);
- variables that Meta.fieldsets does not list are not in the form, take their (validated) default, and cannot be set
  from outside;
- unknown names are refused, omitted values take their default (API, CLI) but an unticked box stays False (form);
- the stored inputs validate again to the same values (queued runs and re-runs), secrets masked.
"""
import datetime
import decimal
import io
import json
import textwrap

import netaddr
import pytest
from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Region, Site
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import QueryDict
from rest_framework.test import APIClient

from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.execution.inputs import (
    SECRET_MASK,
    InputError,
    build_form,
    form_initial_from_inputs,
    validate_inputs,
)
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED
from netbox_custom_scripts.models import ScriptRun
from netbox_custom_scripts.scripts import (
    BooleanVar,
    ChoiceVar,
    DateTimeVar,
    DateVar,
    DecimalVar,
    FileVar,
    IntegerVar,
    IPAddressVar,
    IPNetworkVar,
    MultiChoiceVar,
    MultiObjectVar,
    ObjectVar,
    Script,
    SecretVar,
    StringVar,
)

from .utils import make_user, token_header

pytestmark = pytest.mark.django_db


def messages(script_class, data, **kwargs):
    with pytest.raises(InputError) as excinfo:
        validate_inputs(script_class, data, **kwargs)
    return excinfo.value.message_dict


@pytest.fixture
def geo():
    """Two regions with sites of different statuses."""
    europe = Region.objects.create(name='Europe', slug='europe')
    america = Region.objects.create(name='America', slug='america')
    return {
        'europe': europe,
        'america': america,
        'ams': Site.objects.create(name='ams', slug='ams', region=europe, status='active'),
        'par': Site.objects.create(name='par', slug='par', region=europe, status='planned'),
        'nyc': Site.objects.create(name='nyc', slug='nyc', region=america, status='retired'),
    }


# query_params on the server

class ActiveSite(Script):
    site = ObjectVar(model=Site, query_params={'status': 'active'})


class LiveSite(Script):
    site = ObjectVar(model=Site, query_params={'status': ['active', 'planned']})


class SiteInRegion(Script):
    region = ObjectVar(model=Region, required=False)
    site = ObjectVar(model=Site, query_params={'region_id': '$region'})


class SitesInRegions(Script):
    regions = MultiObjectVar(model=Region)
    sites = MultiObjectVar(model=Site, query_params={'region_id': '$regions', 'status': ['active', 'retired']})


NOT_A_CHOICE = 'Select a valid choice. That choice is not one of the available choices.'


def test_static_query_params_are_enforced(geo):
    assert validate_inputs(ActiveSite, {'site': geo['ams'].pk}).cleaned['site'] == geo['ams']
    assert messages(ActiveSite, {'site': geo['par'].pk}) == {'site': [NOT_A_CHOICE]}


def test_list_values_in_query_params(geo):
    assert validate_inputs(LiveSite, {'site': geo['par'].pk}).cleaned['site'] == geo['par']
    assert messages(LiveSite, {'site': geo['nyc'].pk}) == {'site': [NOT_A_CHOICE]}


def test_references_to_other_variables(geo):
    inputs = validate_inputs(SiteInRegion, {'region': geo['europe'].pk, 'site': geo['par'].pk})
    assert inputs.cleaned == {'region': geo['europe'], 'site': geo['par']}
    assert messages(SiteInRegion, {'region': geo['europe'].pk, 'site': geo['nyc'].pk}) == {'site': [NOT_A_CHOICE]}
    # An empty referenced variable does not filter (as in the browser).
    assert validate_inputs(SiteInRegion, {'site': geo['nyc'].pk}).cleaned['site'] == geo['nyc']
    assert validate_inputs(SiteInRegion, {'region': None, 'site': geo['nyc'].pk}).cleaned['site'] == geo['nyc']


def test_references_to_a_list_and_a_static_list_together(geo):
    both = [geo['europe'].pk, geo['america'].pk]
    inputs = validate_inputs(SitesInRegions, {'regions': both, 'sites': [geo['ams'].pk, geo['nyc'].pk]})
    assert set(inputs.cleaned['sites']) == {geo['ams'], geo['nyc']}
    # par is in a chosen region but planned; nyc is retired but its region was not chosen.
    assert messages(SitesInRegions, {'regions': both, 'sites': [geo['par'].pk]})
    assert messages(SitesInRegions, {'regions': [geo['europe'].pk], 'sites': [geo['nyc'].pk]})


def test_the_web_form_path_enforces_them_too(geo):
    posted = QueryDict(f'region={geo["america"].pk}&site={geo["ams"].pk}')
    assert messages(SiteInRegion, posted) == {'site': [NOT_A_CHOICE]}
    form = build_form(SiteInRegion, data=QueryDict(f'region={geo["europe"].pk}&site={geo["par"].pk}'))
    assert form.is_valid() and form.cleaned_data['site'] == geo['par']
    # The bound form's choices are what the filter allows.
    form = build_form(SitesInRegions, data=QueryDict(f'regions={geo["europe"].pk}'))
    assert list(form.fields['sites'].queryset) == [geo['ams']]
    # A prefixed form resolves `$region` under its prefix.
    prefixed = build_form(SiteInRegion, data=QueryDict(f'p-region={geo["america"].pk}&p-site={geo["ams"].pk}'),
                          prefix='p')
    assert not prefixed.is_valid() and prefixed.errors['site'] == [NOT_A_CHOICE]


def test_a_reference_to_a_hidden_variable_uses_its_default(geo):
    class Hidden(Script):
        class Meta:
            fieldsets = (('Where', ('site',)),)

        region = ObjectVar(model=Region, default=geo['america'].pk)
        site = ObjectVar(model=Site, query_params={'region_id': '$region'})

    assert validate_inputs(Hidden, {'site': geo['nyc'].pk}).cleaned == {'region': geo['america'], 'site': geo['nyc']}
    assert messages(Hidden, {'site': geo['ams'].pk}) == {'site': [NOT_A_CHOICE]}


def test_query_params_on_other_models(db):
    maker = Manufacturer.objects.create(name='Acme', slug='acme')
    other = Manufacturer.objects.create(name='Other', slug='other')
    acme_type = DeviceType.objects.create(manufacturer=maker, model='A1', slug='a1')
    other_type = DeviceType.objects.create(manufacturer=other, model='O1', slug='o1')
    role = DeviceRole.objects.create(name='Leaf', slug='leaf')
    site = Site.objects.create(name='s', slug='s')
    device = Device.objects.create(name='d1', site=site, role=role, device_type=acme_type)

    class PickType(Script):
        manufacturer = ObjectVar(model=Manufacturer)
        device_type = ObjectVar(model=DeviceType, query_params={'manufacturer_id': '$manufacturer'})
        device = ObjectVar(model=Device, required=False, query_params={'device_type_id': '$device_type',
                                                                       'has_primary_ip': False})

    ok = validate_inputs(PickType, {'manufacturer': maker.pk, 'device_type': acme_type.pk, 'device': device.pk})
    assert ok.cleaned['device'] == device
    assert list(messages(PickType, {'manufacturer': maker.pk, 'device_type': other_type.pk})) == ['device_type']


# Objects the user may view

def test_only_objects_the_user_may_view_can_be_picked(geo):
    limited = make_user('limited', (Site, ['view'], {'region__slug': 'europe'}))
    nobody = make_user('nobody')
    admin = make_user('admin', is_superuser=True)

    class PickSite(Script):
        site = ObjectVar(model=Site)
        others = MultiObjectVar(model=Site, required=False)

    assert validate_inputs(PickSite, {'site': geo['ams'].pk}, user=limited).cleaned['site'] == geo['ams']
    assert messages(PickSite, {'site': geo['nyc'].pk}, user=limited) == {'site': [NOT_A_CHOICE]}
    assert list(messages(PickSite, {'site': geo['ams'].pk, 'others': [geo['par'].pk, geo['nyc'].pk]},
                         user=limited)) == ['others']
    assert messages(PickSite, {'site': geo['ams'].pk}, user=nobody) == {'site': [NOT_A_CHOICE]}
    assert validate_inputs(PickSite, {'site': geo['nyc'].pk}, user=admin).cleaned['site'] == geo['nyc']
    # The form's choices are restricted the same way.
    form = build_form(PickSite, user=limited)
    assert set(form.fields['site'].queryset) == {geo['ams'], geo['par']}
    # The restriction and query_params both apply.
    assert messages(LiveSite, {'site': geo['nyc'].pk}, user=admin)
    assert messages(ActiveSite, {'site': geo['ams'].pk}, user=nobody)


# The script's clean(data)

class Window(Script):
    start = DateVar()
    end = DateVar()
    site = ObjectVar(model=Site, required=False)
    note = StringVar(required=False)

    def clean(self, data):
        self.seen = dict(data)
        if data['end'] < data['start']:
            raise ValidationError({'end': 'Must be after the start.'})
        if data['note'] == 'whole':
            raise ValidationError('The window as a whole is wrong.')
        if data['note'] == 'several':
            raise ValidationError({'start': ['Too early.', 'A weekend.'], 'note': 'Not that.'})
        if data['note'] == 'elsewhere':
            raise ValidationError({'nonexistent': 'About something else.'})
        if data['site'] is not None and data['site'].status != 'active':
            raise ValidationError({'site': f'{data["site"]} is not active.'})


WINDOW = {'start': '2024-01-10', 'end': '2024-01-20'}


def test_clean_errors_become_per_variable_errors(geo):
    assert messages(Window, {**WINDOW, 'end': '2024-01-01'}) == {'end': ['Must be after the start.']}
    assert messages(Window, {**WINDOW, 'note': 'whole'}) == {'__all__': ['The window as a whole is wrong.']}
    assert messages(Window, {**WINDOW, 'note': 'several'}) == {
        'start': ['Too early.', 'A weekend.'], 'note': ['Not that.'],
    }
    assert messages(Window, {**WINDOW, 'note': 'elsewhere'}) == {'__all__': ['nonexistent: About something else.']}
    # clean() receives cleaned values: the object, not its ID.
    assert messages(Window, {**WINDOW, 'site': geo['par'].pk}) == {'site': ['par is not active.']}
    assert validate_inputs(Window, {**WINDOW, 'site': geo['ams'].pk}).cleaned['site'] == geo['ams']


def test_clean_only_runs_when_every_variable_is_valid():
    # The end date is invalid on its own: clean() would fail comparing it, but is not called.
    assert messages(Window, {**WINDOW, 'end': 'never'}) == {'end': ['Enter a valid date.']}


def test_clean_errors_in_the_web_form():
    form = build_form(Window, data=QueryDict('start=2024-01-10&end=2024-01-01'))
    assert not form.is_valid() and form.errors['end'] == ['Must be after the start.']
    form = build_form(Window, data=QueryDict('start=2024-01-10&end=2024-01-20&note=whole'))
    assert not form.is_valid() and form.non_field_errors() == ['The window as a whole is wrong.']


def test_clean_sees_hidden_variables_with_their_defaults():
    class Seen(Script):
        class Meta:
            fieldsets = (('Visible', ('visible',)),)

        visible = StringVar()
        limit = IntegerVar(default=5)
        flag = BooleanVar()

        def clean(self, data):
            if data != {'visible': 'v', 'limit': 5, 'flag': False}:
                raise ValidationError(f'clean() saw {data}')

    assert validate_inputs(Seen, {'visible': 'v'}).cleaned == {'visible': 'v', 'limit': 5, 'flag': False}


CHECKS_MODULE = """
    from django.core.exceptions import ValidationError

    from netbox_custom_scripts.scripts import IntegerVar, Script


    class Range(Script):
        low = IntegerVar()
        high = IntegerVar()

        def clean(self, data):
            if data['high'] <= data['low']:
                raise ValidationError({'high': 'Must be above low.'})
            if data['high'] - data['low'] > 100:
                raise ValidationError('The range is too wide.')

        def run(self, data, commit):
            return data['high'] - data['low']
"""


@pytest.fixture
def checks_dir(tmp_path, settings):
    (tmp_path / 'checks.py').write_text(textwrap.dedent(CHECKS_MODULE))
    settings.PLUGINS_CONFIG = {
        **settings.PLUGINS_CONFIG,
        'netbox_custom_scripts': {**settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'scripts_dir': str(tmp_path)},
    }
    sync_directory(root=str(tmp_path))
    return tmp_path


def test_clean_errors_over_the_api(checks_dir):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(make_user('admin', is_superuser=True)))
    url = '/api/plugins/custom-scripts/scripts/checks.Range/run/'
    response = client.post(url, {'data': {'low': 5, 'high': 1}}, format='json')
    assert response.status_code == 400
    assert response.json() == {'data': {'high': ['Must be above low.']}}
    response = client.post(url, {'data': {'low': 1, 'high': 500}}, format='json')
    assert response.status_code == 400
    assert response.json() == {'data': {'__all__': ['The range is too wide.']}}
    assert not ScriptRun.objects.exists()


def test_clean_errors_on_the_command_line(checks_dir):
    make_user('admin', is_superuser=True)
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command('custom_scripts', 'run', 'checks.Range', '--user', 'admin',
                     '--data', json.dumps({'low': 5, 'high': 1}), stdout=io.StringIO(), stderr=err)
    assert excinfo.value.returncode == EXIT_REFUSED
    assert 'high: Must be above low.' in str(excinfo.value)
    with pytest.raises(CommandError) as excinfo:
        call_command('custom_scripts', 'run', 'checks.Range', '--user', 'admin',
                     '--data', json.dumps({'low': 1, 'high': 500}), stdout=io.StringIO(), stderr=err)
    assert 'The range is too wide.' in str(excinfo.value)
    assert not ScriptRun.objects.exists()


# Meta.fieldsets: what the form does not show

class Grouped(Script):
    class Meta:
        fieldsets = (
            ('Target', ('site', 'dry_note')),
            ('Options', ('count',)),
        )

    count = IntegerVar(default=1)
    site = ObjectVar(model=Site)
    dry_note = StringVar(required=False)
    limit = IntegerVar(default=7)          # hidden, with a default
    verbose = BooleanVar()                  # hidden, no default
    tag = StringVar()                       # hidden and required: never asked, so not required
    home = ObjectVar(model=Site, required=False)  # hidden, given a default per test below


def test_hidden_variables_are_not_in_the_form_and_take_their_default(geo):
    form = build_form(Grouped)
    assert list(form.fields) == ['site', 'dry_note', 'count']  # fieldsets order
    inputs = validate_inputs(Grouped, {'site': geo['ams'].pk})
    assert inputs.cleaned == {
        'count': 1, 'site': geo['ams'], 'dry_note': '', 'limit': 7, 'verbose': False, 'tag': '', 'home': None,
    }
    assert inputs.stored['limit'] == 7
    # A hidden ObjectVar's default given as an ID reaches run() as the object.
    with_home = type('WithHome', (Grouped,), {'home': ObjectVar(model=Site, default=geo['nyc'].pk)})
    assert validate_inputs(with_home, {'site': geo['ams'].pk}).cleaned['home'] == geo['nyc']
    # The web form path too.
    assert validate_inputs(with_home, QueryDict(f'site={geo["ams"].pk}&count=2')).cleaned['home'] == geo['nyc']


def test_hidden_variables_cannot_be_set_from_outside(geo):
    assert messages(Grouped, {'site': geo['ams'].pk, 'limit': 99}) == {'limit': [
        'This variable is not part of the form (Meta.fieldsets does not list it): it always takes its default and '
        'cannot be set.'
    ]}
    # Its own default (as a re-run sends back the stored inputs) is fine.
    stored = validate_inputs(Grouped, {'site': geo['ams'].pk}).stored
    assert validate_inputs(Grouped, stored).cleaned['limit'] == 7
    # A queued run re-validates leniently.
    assert validate_inputs(Grouped, {'site': geo['ams'].pk, 'limit': 99}, strict=False).cleaned['limit'] == 7


def test_an_invalid_hidden_default_is_reported_with_the_variable(geo):
    broken = type('Broken', (Grouped,), {'limit': IntegerVar(default=7, max_value=5)})
    errors = messages(broken, {'site': geo['ams'].pk})
    assert errors == {'__all__': [
        'limit: Ensure this value is less than or equal to 5. (the default of this variable, which the form does '
        'not show)'
    ]}


# Names, defaults, shapes

def test_unknown_names_are_refused_unless_lenient():
    class Hello(Script):
        who = StringVar(default='world')

    assert messages(Hello, {'whom': 'x'}) == {'__all__': ['Unknown variable(s): whom. This script takes: who.']}
    assert validate_inputs(Hello, {'whom': 'x'}, strict=False).cleaned == {'who': 'world'}
    # Run parameters of the form are not variables, and not unknown either.
    assert validate_inputs(Hello, {'_commit': True, 'csrfmiddlewaretoken': 'x'}).cleaned == {'who': 'world'}
    assert messages(Hello, ['who']) == {'__all__': ['Inputs must be an object mapping variable names to values, '
                                                    'not list.']}


def test_no_variables():
    class Plain(Script):
        pass

    assert validate_inputs(Plain, {}).cleaned == {} and validate_inputs(Plain, None).stored == {}
    assert messages(Plain, {'x': 1}) == {'__all__': ['Unknown variable(s): x. This script takes: no variables.']}


class Everything(Script):
    text = StringVar()
    number = IntegerVar(min_value=0)
    amount = DecimalVar()
    flag = BooleanVar()
    choice = ChoiceVar(choices=(('a', 'A'), ('b', 'B')))
    choices = MultiChoiceVar(choices=(('a', 'A'), ('b', 'B')))
    day = DateVar()
    moment = DateTimeVar()
    address = IPAddressVar()
    network = IPNetworkVar()
    site = ObjectVar(model=Site, null_option='None')
    sites = MultiObjectVar(model=Site)
    password = SecretVar(required=False)
    upload = FileVar(required=False)


def test_stored_inputs_validate_again_to_the_same_values(geo):
    data = {
        'text': 'x', 'number': 0, 'amount': '2.50', 'flag': True, 'choice': 'b', 'choices': ['a', 'b'],
        'day': '2024-02-29', 'moment': '2024-01-02T03:04:05+01:00', 'address': '2001:db8::1',
        'network': '10.0.0.0/8', 'site': 'null', 'sites': [geo['ams'].pk, geo['par'].pk], 'password': 'pw',
    }
    first = validate_inputs(Everything, data)
    assert first.cleaned['site'] is None and first.cleaned['amount'] == decimal.Decimal('2.50')
    assert first.cleaned['moment'] == datetime.datetime(2024, 1, 2, 2, 4, 5, tzinfo=datetime.UTC)
    assert first.cleaned['network'] == netaddr.IPNetwork('10.0.0.0/8')
    assert first.stored['password'] == SECRET_MASK and first.stored['upload'] is None
    json.dumps(first.stored)  # the run record is JSON
    # What a worker (or a re-run) does: the stored inputs plus the sealed secrets.
    again = validate_inputs(Everything, {**first.stored, **first.secrets}, strict=False)
    assert again.stored == first.stored
    assert {k: v for k, v in again.cleaned.items() if k != 'sites'} == {
        k: v for k, v in first.cleaned.items() if k != 'sites'
    }
    assert list(again.cleaned['sites']) == list(first.cleaned['sites'])


def test_rerun_form_is_prefilled_without_secrets_or_files(geo):
    stored = {'text': 'x', 'number': 3, 'password': SECRET_MASK, 'upload': {'name': 'a.csv', 'size': 3},
              'site': geo['ams'].pk}
    assert form_initial_from_inputs(Everything, stored) == {'text': 'x', 'number': 3, 'site': geo['ams'].pk}
