"""
Contract: a run option is declared once (a RunRequest field made with run_option()), and every door takes it the same
way: the web form has its `_<name>` field in "Script Execution Parameters", the REST API's run endpoint its field,
the CLI's `run` its `--<name>` flag; left out, the core decides (for notifications: Meta.notifications_default).
"""
import pytest
from django.core.management import get_commands, load_command_class

from netbox_custom_scripts.api.serializers import RunRequestSerializer
from netbox_custom_scripts.api.views.root import RUN_OPTION_KEYS
from netbox_custom_scripts.choices import NotificationChoices, RunSourceChoices
from netbox_custom_scripts.execution import get_script_class, run_options, sync_directory
from netbox_custom_scripts.forms import RunOptionsForm
from netbox_custom_scripts.models import Script, ScriptRun
from netbox_custom_scripts.scripting.meta import EXECUTION_PARAMETERS

from .utils import cli, make_user

pytestmark = pytest.mark.django_db(transaction=True)

DECLARED = [name for name, __ in run_options()]


def cli_parser():
    command = load_command_class(get_commands()['custom_scripts'], 'custom_scripts')
    return command.create_parser('netbox', 'custom_scripts')


def test_notifications_is_a_declared_option():
    # The contract below must have something to hold: a declaration nobody reads would pass vacuously.
    assert 'notifications' in DECLARED


@pytest.mark.parametrize('name', DECLARED)
def test_every_door_takes_a_declared_option(name):
    sync_directory()
    script_class = get_script_class(Script.objects.get(module__name='basic', class_name='Hello'))
    assert name in RunRequestSerializer().fields
    assert name in RUN_OPTION_KEYS  # a refusal of it is an error under its own name, not among the script's inputs
    assert f'_{name}' in RunOptionsForm(script_class=script_class).fields
    assert f'_{name}' in EXECUTION_PARAMETERS
    assert f'_{name}' in dict(script_class.get_fieldsets())['Script Execution Parameters']
    options = vars(cli_parser().parse_args(['run', 'basic.Hello', '--user', 'u', f'--{name.replace("_", "-")}',
                                            _example_value(name)]))
    assert options[name] is not None


def _example_value(name):
    option = dict(run_options())[name]
    return option.choices[-1][0] if option.choices else '1'


def test_the_cli_passes_notifications_and_leaves_the_default_when_not_given():
    make_user('admin', is_superuser=True)
    status, __, err = cli('run', 'basic.Hello', '--user', 'admin', '--notifications', NotificationChoices.NEVER)
    assert status == 0, err
    status, __, err = cli('run', 'basic.Hello', '--user', 'admin')
    assert status == 0, err
    given, default = ScriptRun.objects.filter(source=RunSourceChoices.CLI).order_by('pk')
    assert given.notifications == NotificationChoices.NEVER
    assert default.notifications == NotificationChoices.ALWAYS  # the script's Meta.notifications_default


def test_the_cli_refuses_a_value_the_option_does_not_offer():
    make_user('admin', is_superuser=True)
    status, __, err = cli('run', 'basic.Hello', '--user', 'admin', '--notifications', 'sometimes')
    assert status != 0 and 'sometimes' in err
    assert not ScriptRun.objects.exists()
