"""
ObjectVar/MultiObjectVar `query_params` validate the same in every process, with NetBox's filter sets.

NetBox registers its filter sets as its apps' `filtersets` modules are imported, which loading the URL
configuration does; the CLI (`netbox custom_scripts run`) never loads it, a plain Python program only after
something else did, and an RQ work-horse starts from its worker's state. Each case below runs in a real process of
its own - the CLI command, a fresh `python -c` program calling run_script(), an RQ worker - with objects that match
the query_params (accepted) and objects that do not ("Select a valid choice"), and the CLI and the program never
load the URL configuration.
"""
import json
import os
import signal
import subprocess
import sys

import netaddr
import pytest
from dcim.models import Device, DeviceRole, DeviceType, Interface, Manufacturer, Site
from django.conf import settings
from extras.models import Tag
from ipam.models import IPAddress

from netbox_custom_scripts.choices import ModuleSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import run_script, save_source
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED
from netbox_custom_scripts.models import ScriptRun

from .utils import make_user, start_worker

pytestmark = pytest.mark.django_db(transaction=True)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A module as NetBox users write them: choices narrowed with REST API filters.
SOURCE = """\
from dcim.models import Device, DeviceRole
from extras.scripts import *


class PickServers(Script):
    server = ObjectVar(model=Device, query_params={'role': 'server'})
    vm_role = ObjectVar(model=DeviceRole, query_params={'vm_role': True}, required=False)
    addressed = ObjectVar(model=Device, query_params={'has_primary_ip': True}, required=False)
    tagged = MultiObjectVar(model=Device, query_params={'tag': 'managed'}, required=False)
    # `tags` is not one of NetBox's filters: its API ignores it, so the form offers every device.
    any_device = ObjectVar(model=Device, query_params={'tags': 'managed'}, required=False)

    def run(self, data, commit):
        tagged = ','.join(sorted(device.name for device in data['tagged'] or []))
        role = data['vm_role'].slug if data['vm_role'] else '-'
        addressed = data['addressed'].name if data['addressed'] else '-'
        any_device = data['any_device'].name if data['any_device'] else '-'
        return f"server={data['server'].name} vm_role={role} addressed={addressed} tagged={tagged} any={any_device}"


class PickServersLater(PickServers):
    class Meta:
        queue = 'low'
"""


@pytest.fixture
def network():
    """srv1: role server, a primary IP, tag `managed`; sw1: role switch, no IP, no tag."""
    site = Site.objects.create(name='dc', slug='dc')
    device_type = DeviceType.objects.create(
        manufacturer=Manufacturer.objects.create(name='Acme', slug='acme'), model='Box', slug='box'
    )
    server = DeviceRole.objects.create(name='Server', slug='server', vm_role=True)
    switch = DeviceRole.objects.create(name='Switch', slug='switch', vm_role=False)
    srv1 = Device.objects.create(name='srv1', site=site, role=server, device_type=device_type)
    sw1 = Device.objects.create(name='sw1', site=site, role=switch, device_type=device_type)
    interface = Interface.objects.create(device=srv1, name='eth0', type='1000base-t')
    address = IPAddress.objects.create(address=netaddr.IPNetwork('192.0.2.10/24'), assigned_object=interface)
    srv1.primary_ip4 = address
    srv1.save()
    srv1.tags.add(Tag.objects.create(name='managed', slug='managed'))
    save_source('pick', SOURCE, source=ModuleSourceChoices.UPLOAD, file_path='pick.py')
    make_user('admin', is_superuser=True)
    return {'srv1': srv1, 'sw1': sw1, 'server': server, 'switch': switch}


def matching(net):
    return {'server': net['srv1'].pk, 'vm_role': net['server'].pk, 'addressed': net['srv1'].pk,
            'tagged': [net['srv1'].pk], 'any_device': net['sw1'].pk}


NOT_MATCHING = {  # each variable given an object its query_params exclude
    'server': lambda net: {'server': net['sw1'].pk},
    'vm_role': lambda net: {'server': net['srv1'].pk, 'vm_role': net['switch'].pk},
    'addressed': lambda net: {'server': net['srv1'].pk, 'addressed': net['sw1'].pk},
    'tagged': lambda net: {'server': net['srv1'].pk, 'tagged': [net['srv1'].pk, net['sw1'].pk]},
}

EXPECTED_OUTPUT = 'server=srv1 vm_role=server addressed=srv1 tagged=srv1 any=sw1'


def _env():
    return dict(os.environ, NB_DB_NAME=settings.DATABASES['default']['NAME'], DJANGO_SETTINGS_MODULE='tests.settings')


def netbox_cli(*args):
    netbox = os.path.join(os.path.dirname(sys.executable), 'netbox')
    return subprocess.run([netbox, 'custom_scripts', *args], env=_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=180)


def test_cli_process_validates_like_the_web(network):
    for variable, make in sorted(NOT_MATCHING.items()):
        result = netbox_cli('run', 'pick.PickServers', '--user', 'admin', '--data', json.dumps(make(network)))
        assert result.returncode == EXIT_REFUSED, (variable, result.stdout, result.stderr)
        assert variable in result.stderr and 'Select a valid choice' in result.stderr, result.stderr
    assert not ScriptRun.objects.exists()
    result = netbox_cli('run', 'pick.PickServers', '--user', 'admin', '--data', json.dumps(matching(network)))
    assert result.returncode == 0, result.stderr
    assert ScriptRun.objects.get().output == EXPECTED_OUTPUT


# A program of a user's own: the first thing it does is run the script, in a fresh interpreter.
PROGRAM = """
import json, sys
import django
django.setup()
from netbox.registry import registry
from netbox_custom_scripts.execution.inputs import InputError
from netbox_custom_scripts.execution import run_script
print('filtersets before:', len(registry['filtersets']))
for data in json.loads(sys.argv[1]):
    try:
        run = run_script('pick.PickServers', data=data, user='admin')
        print('ran:', run.status, run.output)
    except InputError as exc:
        print('refused:', json.dumps(exc.message_dict))
print('urls loaded:', 'netbox.urls' in sys.modules)
"""


def test_python_program_validates_like_the_web_from_its_first_run(network):
    cases = [matching(network), *(make(network) for __, make in sorted(NOT_MATCHING.items()))]
    result = subprocess.run([sys.executable, '-c', PROGRAM, json.dumps(cases)], env=_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=180)
    lines = result.stdout.splitlines()
    assert 'filtersets before: 0' in lines, result.stdout + result.stderr  # nothing had filled the registry
    assert f'ran: completed {EXPECTED_OUTPUT}' in lines, result.stdout + result.stderr
    refusals = [json.loads(line.split(': ', 1)[1]) for line in lines if line.startswith('refused: ')]
    assert [sorted(errors) for errors in refusals] == [[name] for name in sorted(NOT_MATCHING)]
    for errors, name in zip(refusals, sorted(NOT_MATCHING), strict=True):
        assert 'Select a valid choice' in ' '.join(errors[name])
    assert 'urls loaded: False' in lines


def _finished(pk):
    run = ScriptRun.objects.get(pk=pk)
    return run if run.status not in ('pending', 'scheduled', 'running') else None


def test_rq_worker_revalidates_like_the_web(network, rq_worker, wait):
    """
    The worker validates the inputs again: matching objects run. The second run is accepted when submitted, to a
    queue no worker serves yet; its server becomes a switch before a worker for that queue starts: refused there.
    """
    accepted = run_script('pick.PickServers', data=matching(network), user='admin', background=True)
    accepted = wait(lambda: _finished(accepted.pk), timeout=60, message='the first run')
    assert (accepted.status, accepted.output) == (RunStatusChoices.COMPLETED, EXPECTED_OUTPUT), accepted.error

    stale = run_script('pick.PickServersLater', data={'server': network['srv1'].pk}, user='admin', background=True)
    Device.objects.filter(pk=network['srv1'].pk).update(role=network['switch'])
    worker = start_worker('low')
    try:
        stale = wait(lambda: _finished(stale.pk), timeout=60, message='the second run')
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert stale.status == RunStatusChoices.REFUSED
    assert 'server' in stale.error and 'Select a valid choice' in stale.error
