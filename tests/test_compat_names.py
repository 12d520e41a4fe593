"""
Variables and attributes may take any name stock NetBox leaves free (issue 12): `queue`, `progress`, `hidden`,
`rate_limit`, `event`, `object_types`, `name`, `description`, `module`, `singleton`, `clean`, ... are ordinary
names on NetBox, so real modules use them (a ticket queue, a maintenance event, the name of the site to create).
The plugin reads its options from Meta, never through attributes a variable shadows, so its features keep working
for such a script: the Script record's meta, the run form, the API, run policies (queue, singleton, rate limit,
run mode), hidden, object-type buttons, and the author's own class attributes stay the author's during a run.
Only what NetBox's Script itself needs (run, log_info, ...) and the run form's own fields stay refused
(tests/test_compat_meta.py, tests/test_script_api.py).
"""
import textwrap

import pytest
from dcim.models import Site
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import RateLimited, RunRefused, submit_run, sync_directory
from netbox_custom_scripts.models import Script, ScriptModule

from .utils import make_user, token_header

API = '/api/plugins/custom-scripts'

MAINTENANCE = '''
from dcim.models import Site
from extras.scripts import BooleanVar, IntegerVar, ObjectVar, Script, StringVar


class Maintenance(Script):
    """Open a maintenance window for a site and file it in the ticket queue."""

    class Meta:
        name = 'Maintenance window'
        description = 'Put a site into maintenance'
        queue = 'low'
        commit_default = False
        object_types = ('dcim.site',)

    site = ObjectVar(model=Site)
    queue = StringVar(default='noc', description='Ticket queue')
    progress = IntegerVar(default=0, required=False, description='Percent done so far')
    hidden = BooleanVar(default=False, required=False, description='Hide the window from customers')
    rate_limit = IntegerVar(default=10, required=False, description='Mbit/s during the window')
    event = StringVar(default='maintenance')
    object_types = StringVar(default='dcim.device', required=False)
    name = StringVar(default='window')
    description = StringVar(required=False)
    singleton = BooleanVar(required=False)
    clean = BooleanVar(required=False, description='Clean up afterwards')
    module = StringVar(required=False)
    request = StringVar(required=False)
    field_order = StringVar(required=False)
    job_timeout = IntegerVar(required=False)

    def run(self, data, commit):
        self.log_info(f'window for {data["site"]}', data['site'])
        return ' '.join(f'{key}={data[key]}' for key in sorted(data) if key != 'site')
'''

POLICIES = """
from extras.scripts import Script, StringVar


class OneAtATime(Script):
    class Meta:
        singleton = True
        hidden = True
        run_mode = 'manual'

    singleton = StringVar(required=False)
    hidden = StringVar(required=False)
    run_mode = StringVar(required=False)

    def run(self, data, commit):
        return 'ok'


class Limited(Script):
    class Meta:
        rate_limit = '1/hour'

    rate_limit = StringVar(required=False)

    def run(self, data, commit):
        return 'ok'


class Constants(Script):
    # The author's own class attributes, named like things the plugin has.
    event = 'maintenance'
    queue = 'noc'
    data_root = '/srv/netbox-data'
    progress = 'none yet'

    def run(self, data, commit):
        return f'{self.event} {self.queue} {self.data_root} {self.progress}'
"""

VARIABLES = [
    'site', 'queue', 'progress', 'hidden', 'rate_limit', 'event', 'object_types', 'name', 'description', 'singleton',
    'clean', 'module', 'request', 'field_order', 'job_timeout',
]


@pytest.fixture
def loaded(tmp_path):
    for name, text in {'maintenance': MAINTENANCE, 'policies': POLICIES}.items():
        (tmp_path / f'{name}.py').write_text(textwrap.dedent(text))
    result = sync_directory(root=str(tmp_path), force=True)
    assert result.errors == {}
    return {script.class_name: script for script in Script.objects.all()}


@pytest.fixture
def site():
    return Site.objects.create(name='AMS1', slug='ams1')


def api_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token_header(user))
    return client


@pytest.mark.django_db
def test_variables_named_like_plugin_features_load_and_keep_the_scripts_options(loaded):
    maintenance = loaded['Maintenance']
    assert maintenance.module.status == ModuleStatusChoices.OK
    assert (maintenance.module.warnings, maintenance.warnings) == ([], [])
    assert [variable['name'] for variable in maintenance.variables] == VARIABLES
    assert (maintenance.name, maintenance.description) == ('Maintenance window', 'Put a site into maintenance')
    meta = maintenance.meta
    assert (meta['queue'], meta['hidden'], meta['singleton'], meta['commit_default']) == ('low', False, False, False)
    assert (meta['object_types'], meta['field_order'], meta['job_timeout']) == (['dcim.site'], None, None)
    assert (meta['rate_limit'], meta['run_mode']) == (None, 'any')


@pytest.mark.django_db(transaction=True)
def test_a_run_gets_the_variables_and_the_scripts_own_queue(loaded, admin, site):
    run = submit_run(loaded['Maintenance'], user=admin, data={'site': site.pk, 'queue': 'field-ops', 'event': 'x'},
                     source=RunSourceChoices.CLI, immediate=True)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert run.output == (
        'clean=False description= event=x field_order= hidden=False job_timeout=None module= name=window '
        'object_types=dcim.device progress=0 queue=field-ops rate_limit=10 request= singleton=False'
    )
    assert run.queue == 'low'  # Meta.queue, not the variable
    assert run.commit is False  # Meta.commit_default, not a variable


@pytest.mark.django_db
def test_the_run_form_and_the_api_show_every_variable(loaded, admin, client):
    maintenance = loaded['Maintenance']
    client.force_login(admin)
    page = client.get(maintenance.get_absolute_url()).content.decode()
    for name in VARIABLES:
        assert f'name="{name}"' in page, name
    assert 'name="_commit"' in page
    body = api_client(admin).get(f'{API}/scripts/{maintenance.pk}/').json()
    assert [variable['name'] for variable in body['variables']] == VARIABLES
    assert body['meta']['queue'] == 'low'


@pytest.mark.django_db
def test_the_object_type_button_follows_meta_not_the_variable(loaded, admin, client, site):
    client.force_login(admin)
    page = client.get(site.get_absolute_url()).content.decode()
    assert 'Maintenance window' in page


@pytest.mark.django_db(transaction=True)
def test_singleton_hidden_and_run_mode_follow_meta_not_the_variables(loaded, admin):
    one = loaded['OneAtATime']
    assert (one.meta['singleton'], one.meta['hidden'], one.meta['run_mode']) == (True, True, 'manual')
    viewer = make_user('viewer', (Script, ['view', 'run']))
    assert one not in Script.objects.listed_for(viewer)
    first = submit_run(one, user=admin, source=RunSourceChoices.API)  # queued; no worker takes it
    assert first.status == RunStatusChoices.PENDING
    with pytest.raises(RunRefused, match='is a singleton script and run #'):
        submit_run(one, user=admin, source=RunSourceChoices.API)
    with pytest.raises((RunRefused, PermissionDenied), match='runs only when started by hand'):
        submit_run(one, user=admin, source=RunSourceChoices.EVENT)


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_follows_meta_not_the_variable(loaded, admin):
    limited = loaded['Limited']
    assert limited.meta['rate_limit'] == '1/hour'
    submit_run(limited, user=admin, data={'rate_limit': '5/second'}, source=RunSourceChoices.API)
    with pytest.raises(RateLimited, match='at most 1/hour runs of this script per user'):
        submit_run(limited, user=admin, data={'rate_limit': '5/second'}, source=RunSourceChoices.API)


@pytest.mark.django_db(transaction=True)
def test_the_authors_class_attributes_stay_theirs_during_a_run(loaded, admin):
    run = submit_run(loaded['Constants'], user=admin, source=RunSourceChoices.CLI, immediate=True)
    assert run.status == RunStatusChoices.COMPLETED, run.error
    assert run.output == 'maintenance noc /srv/netbox-data none yet'


@pytest.mark.django_db
def test_the_modules_listing_order_ignores_a_variable_called_name(tmp_path):
    (tmp_path / 'ordered.py').write_text(textwrap.dedent("""
        from extras.scripts import Script, StringVar


        class Zulu(Script):
            class Meta:
                name = 'Alpha'

            name = StringVar()


        class Bravo(Script):
            name = StringVar()
    """))
    sync_directory(root=str(tmp_path), force=True)
    module = ScriptModule.objects.get(name='ordered')
    assert list(module.scripts.order_by('weight').values_list('name', flat=True)) == ['Alpha', 'Bravo']
