"""
Compatibility with NetBox's built-in custom scripts.

1. Variables: the same submitted input, bound through NetBox's own `extras.scripts` variables (as NetBox's REST API
   binds it, with prepare_script_form) and through ours (validate_inputs), is accepted or rejected alike and, when
   accepted, gives run() the same value - except for the documented fixes marked in CASES, where NetBox ignores an
   option (a bound of 0, query_params on the server) and the plugin enforces it.
2. NetBox's DateVar/DateTimeVar replace the widget of Django's DateField/DateTimeField for every form in the
   process; ours leave Django alone.
3. Modules of the kinds NetBox users write (provisioning a site with devices, renumbering IP addresses, cabling
   interfaces, a report of test_* methods), written with `from extras.scripts import *` and
   `from utilities.exceptions import AbortScript`, load unchanged from a scripts directory and run through the
   one run path (submit_run); the same modules with the import line switched to
   `from netbox_custom_scripts.scripts import *` behave identically: same status, log, output and changes.
"""
import datetime
import decimal
from pathlib import Path

import netaddr
import pytest
from dcim.choices import SiteStatusChoices
from dcim.models import Cable, Device, DeviceRole, DeviceType, Interface, Manufacturer, Site
from django import forms
from django.core.exceptions import ValidationError
from extras import scripts as netbox_scripts
from ipam.models import IPAddress, Prefix

from netbox_custom_scripts import scripts as plugin_scripts
from netbox_custom_scripts.choices import ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import sync_directory
from netbox_custom_scripts.execution.inputs import InputError, validate_inputs
from netbox_custom_scripts.models import Script as ScriptRecord
from netbox_custom_scripts.models import ScriptModule

from .utils import submit

COMPAT_DIR = Path(__file__).parent / 'fixtures' / 'compat'
NETBOX_IMPORT = 'from extras.scripts import *'
PLUGIN_IMPORT = 'from netbox_custom_scripts.scripts import *'
STYLES = ('nb_style', 'plugin_style')


@pytest.fixture(autouse=True)
def restore_django_date_widgets():
    """NetBox's DateVar/DateTimeVar change Django's field classes; undo that after each test."""
    saved = {cls: cls.__dict__['widget'] for cls in (forms.DateField, forms.DateTimeField)}
    yield
    for cls, widget in saved.items():
        cls.widget = widget


# 1. Variables, side by side

OMIT = object()


def obj(name):
    """A value naming a Site of the `sites` fixture: resolved to its ID when the case runs."""
    return ('site', name)


def resolve(value, sites):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == 'site':
        return sites[value[1]].pk if value[1] in sites else 999999
    if isinstance(value, list):
        return [resolve(item, sites) for item in value]
    return value


DIRECTIONS = (('n', 'North'), ('s', 'South'), ('e', 'East'), ('w', 'West'))
MIN_0 = 'NetBox ignores a bound of 0 (it tests the option for truthiness); the plugin enforces it'
SERVER_SIDE = 'NetBox applies query_params in the browser only; the plugin enforces them on the server'

# (variable class name, positional options, keyword options, submitted value or OMIT, documented fix or None)
CASES = [
    ('StringVar', (), {}, 'abc', None),
    ('StringVar', (), {}, OMIT, None),
    ('StringVar', (), {}, '', None),
    ('StringVar', (), {}, None, None),
    ('StringVar', (), {}, 5, None),
    ('StringVar', (), {'required': False}, OMIT, None),
    ('StringVar', (), {'default': 'fallback'}, OMIT, None),
    ('StringVar', (3,), {}, 'ab', None),
    ('StringVar', (3,), {}, 'abc', None),
    ('StringVar', (None, 3), {}, 'abcd', None),
    ('StringVar', (2, 2), {}, 'ab', None),
    ('StringVar', (), {'regex': r'^[a-z]+$'}, 'abc1', None),
    ('StringVar', (), {'regex': r'^[a-z]+$'}, 'abc', None),
    ('StringVar', (), {'regex': 'b'}, 'abc', None),  # search, not full match
    ('TextVar', (), {}, 'line 1\nline 2', None),
    ('TextVar', (), {}, OMIT, None),
    ('IntegerVar', (), {}, 5, None),
    ('IntegerVar', (), {}, '5', None),
    ('IntegerVar', (), {}, 'five', None),
    ('IntegerVar', (), {}, 1.5, None),
    ('IntegerVar', (), {}, True, None),
    ('IntegerVar', (), {}, OMIT, None),
    ('IntegerVar', (), {'default': 3}, OMIT, None),
    ('IntegerVar', (1, 5), {}, 0, None),
    ('IntegerVar', (1, 5), {}, 6, None),
    ('IntegerVar', (1, 5), {}, 5, None),
    ('IntegerVar', (0, 10), {}, -1, MIN_0),
    ('IntegerVar', (-10, 0), {}, 1, MIN_0),
    ('IntegerVar', (0, 10), {}, 0, None),
    ('DecimalVar', (), {}, '1.25', None),
    ('DecimalVar', (), {}, 'x', None),
    ('DecimalVar', (None, None, 3, 1), {}, '12.34', None),
    ('DecimalVar', (None, None, 3, 1), {}, '12.3', None),
    ('DecimalVar', (decimal.Decimal('0.5'),), {}, '0.4', None),
    ('DecimalVar', (0,), {}, '-0.1', MIN_0),
    ('BooleanVar', (), {}, True, None),
    ('BooleanVar', (), {}, False, None),
    ('BooleanVar', (), {}, 'true', None),
    ('BooleanVar', (), {}, 'false', None),
    ('BooleanVar', (), {}, 0, None),
    ('BooleanVar', (), {}, 1, None),
    ('BooleanVar', (), {}, OMIT, None),
    ('BooleanVar', (), {'required': True}, OMIT, None),
    ('BooleanVar', (), {'default': True}, OMIT, None),
    ('BooleanVar', (), {}, '0', "Django's checkbox widget reads the text '0' as True; the plugin reads it as False"),
    ('ChoiceVar', (DIRECTIONS,), {}, 'n', None),
    ('ChoiceVar', (DIRECTIONS,), {}, 'North', None),
    ('ChoiceVar', (DIRECTIONS,), {}, 'x', None),
    ('ChoiceVar', (DIRECTIONS,), {}, OMIT, None),
    ('ChoiceVar', (DIRECTIONS,), {'required': False}, OMIT, None),
    ('ChoiceVar', (SiteStatusChoices,), {}, 'planned', None),
    ('ChoiceVar', (((1, 'One'), (2, 'Two')),), {}, 1, None),
    ('MultiChoiceVar', (DIRECTIONS,), {}, ['n', 's'], None),
    ('MultiChoiceVar', (DIRECTIONS,), {}, ['n', 'x'], None),
    ('MultiChoiceVar', (DIRECTIONS,), {}, [], None),
    ('MultiChoiceVar', (DIRECTIONS,), {'required': False}, [], None),
    ('MultiChoiceVar', (DIRECTIONS,), {'default': ['e']}, OMIT, None),
    ('MultiChoiceVar', (DIRECTIONS,), {}, 'n', 'the plugin takes a single value as a one-item list'),
    ('DateVar', (), {}, '2024-02-29', None),
    ('DateVar', (), {}, '2023-02-29', None),
    ('DateVar', (), {}, 'yesterday', None),
    ('DateVar', (), {'default': datetime.date(2024, 5, 1)}, OMIT, None),
    ('DateTimeVar', (), {}, '2024-01-02 03:04', None),
    ('DateTimeVar', (), {}, '2024-01-02T03:04:05+00:00', None),
    ('DateTimeVar', (), {}, 'later', None),
    ('IPAddressVar', (), {}, '192.0.2.1', None),
    ('IPAddressVar', (), {}, '2001:db8::1', None),
    ('IPAddressVar', (), {}, '192.0.2.1/24', None),
    ('IPAddressVar', (), {}, '1.2.3', None),
    ('IPAddressWithMaskVar', (), {}, '192.0.2.1/24', None),
    ('IPAddressWithMaskVar', (), {}, '192.0.2.1', None),
    ('IPNetworkVar', (), {}, '192.0.2.0/24', None),
    ('IPNetworkVar', (), {}, '192.0.2.1/24', None),
    ('IPNetworkVar', (16,), {}, '10.0.0.0/8', None),
    ('IPNetworkVar', (16,), {}, '10.0.0.0/16', None),
    ('IPNetworkVar', (None, 24), {}, '192.0.2.0/25', None),
    ('ObjectVar', (Site,), {}, obj('alpha'), None),
    ('ObjectVar', (Site,), {}, obj('missing'), None),
    ('ObjectVar', (Site,), {}, 'abc', None),
    ('ObjectVar', (Site,), {}, OMIT, None),
    ('ObjectVar', (Site,), {'required': False}, OMIT, None),
    ('ObjectVar', (Site,), {'null_option': 'None'}, 'null', None),
    ('ObjectVar', (Site,), {}, 'null', None),
    ('ObjectVar', (Site, {'status': 'active'}), {}, obj('alpha'), None),
    ('ObjectVar', (Site, {'status': 'active'}), {}, obj('beta'), SERVER_SIDE),
    ('MultiObjectVar', (Site,), {}, [obj('alpha'), obj('beta')], None),
    ('MultiObjectVar', (Site,), {}, [obj('alpha'), obj('missing')], None),
    ('MultiObjectVar', (Site,), {}, [], None),
    ('MultiObjectVar', (Site, {'status': 'active'}), {}, [obj('alpha'), obj('beta')], SERVER_SIDE),
]


def case_id(case):
    name, args, kwargs, value, _fix = case
    options = ','.join([*(getattr(a, '__name__', None) or repr(a)[:20] for a in args),
                        *(f'{k}={v!r}'[:20] for k, v in kwargs.items())])
    return f'{name}({options})={"<omitted>" if value is OMIT else repr(value)[:30]}'


@pytest.fixture
def sites(db):
    return {
        'alpha': Site.objects.create(name='alpha', slug='alpha', status='active'),
        'beta': Site.objects.create(name='beta', slug='beta', status='planned'),
    }


def netbox_outcome(variable, data):
    """What NetBox's REST API does with `data`: prepare_script_form(), then the form's verdict on `x`."""
    script_class = type('ParityScript', (netbox_scripts.Script,), {'x': variable, '__module__': __name__})
    form = netbox_scripts.prepare_script_form(script_class(), data)
    form.is_valid()
    if 'x' in form.errors:
        return False, None
    return True, form.cleaned_data['x']


def plugin_outcome(variable, data):
    script_class = type('ParityScript', (plugin_scripts.Script,), {'x': variable, '__module__': __name__})
    try:
        return True, validate_inputs(script_class, data).cleaned['x']
    except InputError as exc:
        assert set(exc.message_dict) == {'x'}, exc.message_dict
        return False, None


def comparable(value):
    if hasattr(value, 'model') and hasattr(value, 'filter'):  # a QuerySet
        return sorted(item.pk for item in value)
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


@pytest.mark.django_db
@pytest.mark.parametrize('case', CASES, ids=[case_id(case) for case in CASES])
def test_variables_accept_and_reject_what_netbox_does(case, sites):
    name, args, kwargs, value, fix = case
    data = {} if value is OMIT else {'x': resolve(value, sites)}
    netbox = netbox_outcome(getattr(netbox_scripts, name)(*args, **kwargs), dict(data))
    plugin = plugin_outcome(getattr(plugin_scripts, name)(*args, **kwargs), dict(data))
    if fix is None:
        assert plugin[0] == netbox[0], f'NetBox accepts: {netbox[0]}, the plugin: {plugin[0]}'
        assert comparable(plugin[1]) == comparable(netbox[1])
    else:
        assert (plugin[0], comparable(plugin[1])) != (netbox[0], comparable(netbox[1])), f'no longer a fix: {fix}'


@pytest.mark.django_db
@pytest.mark.parametrize('name, value, netbox_value, plugin_value', [
    ('IntegerVar', -1, -1, None),
    ('BooleanVar', '0', True, False),
    ('MultiChoiceVar', 'n', None, ['n']),
])
def test_documented_fixes_give_these_values(name, value, netbox_value, plugin_value):
    options = {'IntegerVar': ((0, 10), {}), 'BooleanVar': ((), {}), 'MultiChoiceVar': ((DIRECTIONS,), {})}[name]
    assert netbox_outcome(getattr(netbox_scripts, name)(*options[0], **options[1]), {'x': value})[1] == netbox_value
    assert plugin_outcome(getattr(plugin_scripts, name)(*options[0], **options[1]), {'x': value})[1] == plugin_value


def test_all_of_netboxs_variables_exist_with_the_same_options():
    import inspect

    for name in netbox_scripts.__all__:
        if not name.endswith('Var'):
            continue
        ours = getattr(plugin_scripts, name)
        theirs = getattr(netbox_scripts, name)
        their_params = list(inspect.signature(theirs.__init__).parameters)
        our_params = list(inspect.signature(ours.__init__).parameters)
        # NetBox's own options come first and in the same order, so positional use works the same.
        own = [p for p in their_params if p not in ('self', 'args', 'kwargs')]
        assert our_params[:len(own) + 1] == ['self', *own], name
    assert {'Script', 'BaseScript'} <= set(plugin_scripts.__all__)


# 2. Date widgets

def test_our_date_variables_leave_djangos_date_fields_alone():
    date_widget, datetime_widget = forms.DateField.widget, forms.DateTimeField.widget
    fields = [plugin_scripts.DateVar().as_field(), plugin_scripts.DateTimeVar().as_field()]
    assert forms.DateField.widget is date_widget and forms.DateTimeField.widget is datetime_widget
    assert type(fields[0].widget).__name__ == 'DatePicker' and type(fields[1].widget).__name__ == 'DateTimePicker'
    # A plain Django form built afterwards still gets Django's own widget.
    assert type(forms.DateField().widget) is forms.DateInput


def test_netboxs_date_variables_do_change_djangos_date_fields():
    """The side effect the plugin avoids (so the test above would notice it)."""
    netbox_scripts.DateVar()
    assert type(forms.DateField().widget).__name__ == 'DatePicker'


# 3. Realistic modules in both import styles

def plugin_style(source):
    assert NETBOX_IMPORT in source
    return source.replace(NETBOX_IMPORT, PLUGIN_IMPORT)


@pytest.fixture
def compat_root(tmp_path, settings):
    """tests/fixtures/compat twice: as written (nb_style/) and with the plugin's import line (plugin_style/)."""
    for style in STYLES:
        directory = tmp_path / style
        directory.mkdir()
        for path in sorted(COMPAT_DIR.glob('*.py')):
            text = path.read_text()
            (directory / path.name).write_text(text if style == 'nb_style' else plugin_style(text))
    settings.PLUGINS_CONFIG = {
        **settings.PLUGINS_CONFIG,
        'netbox_custom_scripts': {**settings.PLUGINS_CONFIG['netbox_custom_scripts'], 'scripts_dir': str(tmp_path)},
    }
    result = sync_directory(root=str(tmp_path))
    assert not result.errors, result.errors
    return tmp_path


@pytest.fixture
def network():
    """A small network: two routers with interfaces (one pair cabled), switch models, a prefix with addresses."""
    acme = Manufacturer.objects.create(name='Acme', slug='acme')
    other = Manufacturer.objects.create(name='Other', slug='other')
    switch = DeviceType.objects.create(manufacturer=acme, model='Switch48', slug='switch48')
    other_type = DeviceType.objects.create(manufacturer=other, model='OtherBox', slug='otherbox')
    DeviceRole.objects.create(name='Access Switch', slug='access-switch')
    router = DeviceRole.objects.create(name='Router', slug='router')
    hq = Site.objects.create(name='hq', slug='hq', description='Head office')
    Site.objects.create(name='lab', slug='lab')
    devices = {}
    for name, serial in (('hq-r1', 'SN1'), ('hq-r2', '')):
        device = Device.objects.create(name=name, site=hq, role=router, device_type=other_type, serial=serial)
        devices[name] = device
        for ifname in ('eth0', 'eth1'):
            Interface.objects.create(device=device, name=ifname, type='1000base-t')
    cable = Cable(a_terminations=[interface('hq-r1', 'eth1')], b_terminations=[interface('hq-r2', 'eth1')])
    cable.save()
    prefix = Prefix.objects.create(prefix=netaddr.IPNetwork('10.1.0.0/24'))
    for address in ('10.1.0.1/24', '10.1.0.20/24', '10.2.0.5/24'):
        IPAddress.objects.create(address=netaddr.IPNetwork(address))
    return {'acme': acme, 'other': other, 'switch': switch, 'other_type': other_type, 'prefix': prefix, **devices}


def interface(device, name):
    return Interface.objects.get(device__name=device, name=name)


def run(style, full_name, user, data, commit=None):
    return submit(f'{style}.{full_name}', user, data, commit=commit, source=RunSourceChoices.CLI, immediate=True)


def log_of(run):
    return [(line.level, line.message, line.object_repr, line.test) for line in run.log_entries]


def changes_of(run):
    return [
        (change.action, change.object_type.model if change.object_type else None, change.object_repr)
        for change in run.changes.order_by('pk')
    ]


transactional = pytest.mark.django_db(transaction=True)


def normalised(run_):
    """A run's record without what differs between two runs of the same thing (IDs, times)."""
    # IDs of objects the run itself created (the site of new devices, a new cable's terminations), and times.
    volatile = {'id', 'created', 'last_updated', 'site', 'cable', 'a_terminations', 'b_terminations'}
    return {
        'status': run_.status,
        'error': run_.error,
        'output': run_.output,
        'log': [line[:2] + line[3:] for line in log_of(run_)],
        'changes': [
            (c.action, c.object_type.model, c.object_repr,
             {k: v for k, v in (c.postchange_data or {}).items() if k not in volatile})
            for c in run_.changes.order_by('pk')
        ],
        'counts': run_.log_counts,
    }


@transactional
def test_both_import_styles_load_and_behave_identically(compat_root, admin, network):
    for style in STYLES:
        modules = {module.name: module for module in ScriptModule.objects.filter(name__startswith=f'{style}.')}
        assert len(modules) == 4
        assert {module.status for module in modules.values()} == {ModuleStatusChoices.OK}
        # The module attribute `name`, or the module's own name.
        assert modules[f'{style}.provision_site'].display_name == 'Branch provisioning'
        assert modules[f'{style}.audit_report'].display_name == 'Audits'
        assert modules[f'{style}.renumber_ips'].display_name == f'{style}.renumber_ips'
        # script_order first, then the rest alphabetically by name ('Cable audit' < 'Device audit')
        order = modules[f'{style}.audit_report'].scripts.order_by('weight').values_list('class_name', 'name')
        assert list(order) == [('SiteAudit', 'SiteAudit'), ('LinkAudit', 'Cable audit'),
                               ('DeviceAudit', 'Device audit')]
        branch = ScriptRecord.objects.get(module__name=f'{style}.provision_site')
        assert (branch.name, branch.description) == ('New Branch', 'Provision a new branch site')
        assert [v['name'] for v in branch.variables] == [  # Meta.field_order, then the rest
            'site_name', 'switch_count', 'switch_model', 'manufacturer', 'status'
        ]
        assert branch.meta['commit_default'] is False

    scenarios = [
        ('provision_site.NewBranchScript',
         {'site_name': 'ams-1', 'manufacturer': network['acme'].pk, 'switch_model': network['switch'].pk}),
        ('provision_site.NewBranchScript',  # aborts: the site exists
         {'site_name': 'hq', 'manufacturer': network['acme'].pk, 'switch_model': network['switch'].pk}),
        ('renumber_ips.RenumberPrefix', {'prefix': network['prefix'].pk, 'new_prefix': '10.9.0.0/24',
                                         'dry_note': 'moved'}),
        ('renumber_ips.RenumberPrefix', {'prefix': network['prefix'].pk, 'new_prefix': '10.9.0.0/25'}),
        ('cable_interfaces.ConnectInterfaces', {
            'device_a': network['hq-r1'].pk, 'interface_a': interface('hq-r1', 'eth0').pk,
            'device_b': network['hq-r2'].pk, 'interface_b': interface('hq-r2', 'eth0').pk, 'cable_label': 'c1',
        }),
        ('audit_report.SiteAudit', {}),
        ('audit_report.DeviceAudit', {}),
    ]
    statuses = []
    for full_name, data in scenarios:
        netbox_style = normalised(run('nb_style', full_name, admin, data, commit=False))
        plugin = normalised(run('plugin_style', full_name, admin, data, commit=False))
        for key in netbox_style:
            if key == 'changes':
                for mine, theirs in zip(netbox_style[key], plugin[key], strict=True):
                    assert mine == theirs, (full_name, {
                        k: (v, theirs[3].get(k)) for k, v in mine[3].items() if theirs[3].get(k) != v
                    })
            assert netbox_style[key] == plugin[key], (full_name, key)
        statuses.append(netbox_style['status'])
    assert statuses == ['completed', 'aborted', 'completed', 'aborted', 'completed', 'failed', 'failed']
    # Dry runs: nothing stayed.
    assert not Site.objects.filter(slug='ams-1').exists() and Cable.objects.count() == 1
    assert IPAddress.objects.filter(address__net_host_contained='10.9.0.0/16').count() == 0


@transactional
def test_provisioning_a_site(compat_root, admin, network):
    data = {'site_name': 'ams-1', 'manufacturer': network['acme'].pk, 'switch_model': network['switch'].pk,
            'switch_count': 2}
    # Invalid inputs are refused before anything runs, whichever import the module uses.
    for style in STYLES:
        for bad, field in (
            ({'switch_model': network['other_type'].pk}, 'switch_model'),  # not of the chosen manufacturer ($ref)
            ({'site_name': 'Not A Slug'}, 'site_name'),                     # regex
            ({'switch_count': 9}, 'switch_count'),                          # max_value
            ({'switch_count': 0}, 'switch_count'),                          # min_value
            ({'status': 'sunny'}, 'status'),                                # not a choice
        ):
            with pytest.raises(InputError) as excinfo:
                run(style, 'provision_site.NewBranchScript', admin, {**data, **bad}, commit=True)
            assert list(excinfo.value.message_dict) == [field]

    run_ = run('nb_style', 'provision_site.NewBranchScript', admin, data, commit=True)
    assert run_.status == RunStatusChoices.COMPLETED, (run_.error, run_.traceback)
    assert log_of(run_)[:3] == [
        ('success', 'Created new site: ams-1', 'ams-1', ''),
        ('success', 'Created new switch: ams-1-switch1', 'ams-1-switch1', ''),
        ('success', 'Created new switch: ams-1-switch2', 'ams-1-switch2', ''),
    ]
    assert run_.output == 'name,make,model\nams-1-switch1,Acme,Switch48\nams-1-switch2,Acme,Switch48'
    assert changes_of(run_) == [
        ('create', 'site', 'ams-1'), ('create', 'device', 'ams-1-switch1'), ('create', 'device', 'ams-1-switch2'),
    ]
    site = Site.objects.get(slug='ams-1')
    assert site.status == SiteStatusChoices.STATUS_PLANNED  # the ChoiceVar's default
    assert list(site.devices.order_by('name').values_list('name', flat=True)) == ['ams-1-switch1', 'ams-1-switch2']

    # Meta.commit_default = False: a run that does not say is a dry run.
    dry = run('plugin_style', 'provision_site.NewBranchScript', admin, {**data, 'site_name': 'ams-2'})
    assert dry.status == RunStatusChoices.COMPLETED and not dry.commit
    assert not Site.objects.filter(slug='ams-2').exists() and len(changes_of(dry)) == 3

    # AbortScript from utilities.exceptions: aborted, with its message, nothing changed.
    for style in STYLES:
        again = run(style, 'provision_site.NewBranchScript', admin, data, commit=True)
        assert (again.status, again.error, again.traceback) == (
            RunStatusChoices.ABORTED, 'Site ams-1 already exists', ''
        )
    assert Site.objects.filter(slug__startswith='ams-').count() == 1


@transactional
def test_renumbering_ip_addresses(compat_root, admin, network):
    data = {'prefix': network['prefix'].pk, 'new_prefix': '10.9.0.0/24'}
    for style in STYLES:
        for bad in ('10.8.0.1/24', '10.8.0.0/31', 'not-a-prefix'):  # host bits; max_prefix_length; garbage
            with pytest.raises(InputError) as excinfo:
                run(style, 'renumber_ips.RenumberPrefix', admin, {**data, 'new_prefix': bad})
            assert list(excinfo.value.message_dict) == ['new_prefix']

    run_ = run('plugin_style', 'renumber_ips.RenumberPrefix', admin, data, commit=True)
    assert run_.status == RunStatusChoices.COMPLETED, (run_.error, run_.traceback)
    assert [line[1] for line in log_of(run_)[:3]] == [
        '10.1.0.1/24 -> 10.9.0.1/24', '10.1.0.20/24 -> 10.9.0.20/24', 'Moved 10.1.0.0/24 to 10.9.0.0/24',
    ]
    assert run_.output_format == 'json'
    assert '"addresses": [\n    "10.9.0.1/24",\n    "10.9.0.20/24"\n  ]' in run_.output
    assert sorted(str(ip.address) for ip in IPAddress.objects.all()) == ['10.2.0.5/24', '10.9.0.1/24', '10.9.0.20/24']
    # Snapshots taken first: each update records what the object was before.
    updates = list(run_.changes.order_by('pk'))
    assert [(c.action, c.object_repr) for c in updates] == [
        ('update', '10.9.0.1/24'), ('update', '10.9.0.20/24'), ('update', '10.9.0.0/24'),
    ]
    assert updates[0].prechange_data['address'] == '10.1.0.1/24'
    assert updates[0].postchange_data['address'] == '10.9.0.1/24'

    # And back again with the module as NetBox users wrote it.
    back = run('nb_style', 'renumber_ips.RenumberPrefix', admin,
               {'prefix': network['prefix'].pk, 'new_prefix': '10.1.0.0/24'}, commit=True)
    assert back.status == RunStatusChoices.COMPLETED
    assert sorted(str(ip.address) for ip in IPAddress.objects.all()) == ['10.1.0.1/24', '10.1.0.20/24', '10.2.0.5/24']

    for style in STYLES:
        wrong_size = run(style, 'renumber_ips.RenumberPrefix', admin, {**data, 'new_prefix': '10.8.0.0/16'},
                         commit=True)
        assert wrong_size.status == RunStatusChoices.ABORTED
        assert wrong_size.error == '10.8.0.0/16 is a /16; 10.1.0.0/24 is a /24'


@transactional
def test_cabling_interfaces(compat_root, admin, network):
    data = {
        'device_a': network['hq-r1'].pk, 'interface_a': interface('hq-r1', 'eth0').pk,
        'device_b': network['hq-r2'].pk, 'interface_b': interface('hq-r2', 'eth0').pk,
        'cable_label': 'uplink',
    }
    # Already cabled, or on another device than the one chosen: not among the choices, even if submitted directly.
    for style in STYLES:
        for bad in ({'interface_a': interface('hq-r1', 'eth1').pk}, {'interface_b': interface('hq-r1', 'eth0').pk}):
            with pytest.raises(InputError) as excinfo:
                run(style, 'cable_interfaces.ConnectInterfaces', admin, {**data, **bad}, commit=True)
            assert list(excinfo.value.message_dict) == list(bad)

    run_ = run('nb_style', 'cable_interfaces.ConnectInterfaces', admin, data, commit=True)
    assert run_.status == RunStatusChoices.COMPLETED, (run_.error, run_.traceback)
    assert run_.output == 'hq-r1:eth0 <-> hq-r2:eth0 (Connected)'
    cable = Cable.objects.get(label='uplink')
    assert log_of(run_)[0] == ('success', 'Connected hq-r1 eth0 to hq-r2 eth0', 'uplink', '')
    assert ('create', 'cable', 'uplink') in changes_of(run_)
    assert interface('hq-r1', 'eth0').cable == cable
    # The interfaces are cabled now, so they are no longer valid choices.
    for style in STYLES:
        with pytest.raises(InputError):
            run(style, 'cable_interfaces.ConnectInterfaces', admin, data, commit=True)


@transactional
def test_report_of_test_methods(compat_root, admin, network):
    for style in STYLES:
        sites = run(style, 'audit_report.SiteAudit', admin, {})
        assert sites.status == RunStatusChoices.FAILED  # log_failure: completed with failures
        assert log_of(sites)[:2] == [
            ('success', 'Has a description', 'hq', 'test_site_description'),
            ('failure', 'No description', 'lab', 'test_site_description'),
        ]
        devices = run(style, 'audit_report.DeviceAudit', admin, {})
        assert devices.status == RunStatusChoices.FAILED
        assert log_of(devices)[:4] == [  # test methods in alphabetical order, as NetBox runs them
            ('warning', 'No asset tag', 'hq-r1', 'test_asset_tag'),
            ('warning', 'No asset tag', 'hq-r2', 'test_asset_tag'),
            ('success', 'Serial SN1', 'hq-r1', 'test_serial'),
            ('failure', 'No serial number', 'hq-r2', 'test_serial'),
        ]
        assert devices.log_entries.first().object_id == network['hq-r1'].pk
        assert devices.log_counts['failure'] == 1 and devices.log_counts['warning'] == 2
        links = run(style, 'audit_report.LinkAudit', admin, {})
        assert links.status == RunStatusChoices.COMPLETED and links.output == ''


def test_abort_script_is_netboxs_own_exception():
    from utilities.exceptions import AbortScript as NetBoxAbortScript

    assert issubclass(plugin_scripts.AbortScript, NetBoxAbortScript)
    with pytest.raises(NetBoxAbortScript):
        raise plugin_scripts.AbortScript('stop')
    assert not issubclass(plugin_scripts.AbortScript, ValidationError)
