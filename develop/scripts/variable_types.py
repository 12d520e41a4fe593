"""One script per group of variable types, written against the plugin's own authoring API."""
from dcim.models import Site
from ipam.models import VLAN

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

name = 'Variable types'

DIRECTIONS = (
    ('n', 'North'),
    ('s', 'South'),
    ('e', 'East'),
    ('w', 'West'),
)


class TextInputs(Script):
    class Meta:
        name = 'Text inputs'
        description = 'StringVar, TextVar and SecretVar'
        commit_default = False

    hostname = StringVar(min_length=3, max_length=20, regex=r'^[a-z0-9-]+$', description='Lower-case host name')
    notes = TextVar(required=False, label='Notes')
    api_key = SecretVar(required=False, description='Never stored or logged')

    def run(self, data, commit):
        self.log_info(f'hostname={data["hostname"]!r}, {len(data["notes"] or "")} characters of notes')
        self.log_info('an API key was given' if data['api_key'] else 'no API key')
        return data['hostname']


class NumbersAndChoices(Script):
    class Meta:
        name = 'Numbers and choices'
        fieldsets = (
            ('Numbers', ('count', 'ratio')),
            ('Choices', ('direction', 'directions', 'enabled')),
        )

    count = IntegerVar(min_value=0, max_value=10, default=1)
    ratio = DecimalVar(min_value=0, max_value=1, decimal_places=2, required=False)
    direction = ChoiceVar(choices=DIRECTIONS)
    directions = MultiChoiceVar(choices=DIRECTIONS, required=False)
    enabled = BooleanVar(default=True)

    def run(self, data, commit):
        for key, value in data.items():
            self.log_info(f'{key} = {value!r}')


class DatesAndFiles(Script):
    class Meta:
        name = 'Dates and files'
        scheduling_enabled = False

    day = DateVar()
    moment = DateTimeVar(required=False)
    upload = FileVar(required=False, description='Read in memory, never stored')

    def run(self, data, commit):
        self.log_info(f'day {data["day"].isoformat()}')
        if data['upload']:
            content = data['upload'].read()
            self.log_info(f'{data["upload"].name}: {len(content)} bytes')
            self.save_file(f'copy-of-{data["upload"].name}', content)


class NetworksAndObjects(Script):
    class Meta:
        name = 'Networks and objects'
        field_order = ('site', 'vlans', 'address', 'interface_address', 'network')

    address = IPAddressVar(required=False)
    interface_address = IPAddressWithMaskVar(required=False)
    network = IPNetworkVar(min_prefix_length=16, max_prefix_length=30, required=False)
    site = ObjectVar(model=Site, null_option='None', required=False)
    vlans = MultiObjectVar(model=VLAN, query_params={'site_id': '$site'}, required=False)

    def run(self, data, commit):
        self.log_info(f'site: {data["site"]}', data['site'])
        for vlan in data['vlans'] or []:
            self.log_info(f'vlan {vlan}', vlan)
        for key in ('address', 'interface_address', 'network'):
            if data[key] is not None:
                self.log_info(f'{key}: {data[key]} ({type(data[key]).__name__})')
