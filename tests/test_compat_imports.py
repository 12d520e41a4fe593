"""
Modules written for built-in scripts import helper modules of their scripts root by plain name (`from helpers import
x`): stock NetBox resolves that through sys.path. Here the registered module of that name answers, in every process,
whether or not its file is on sys.path (after a move from built-in scripts there is no file at all).
"""
import sys
import textwrap

import pytest

from netbox_custom_scripts.choices import ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from netbox_custom_scripts.execution import save_source, submit_run
from netbox_custom_scripts.models import ScriptModule

from .utils import cli, make_user

pytestmark = pytest.mark.django_db

HELPERS = """
PREFIX = 'netops'


def shout(text):
    return f'{PREFIX}: {text.upper()}'
"""

USES_HELPER = """
from extras.scripts import Script, StringVar
from netops_shouting import shout
import netops_shouting


class Announce(Script):
    who = StringVar()

    def run(self, data, commit):
        return shout(data['who']) + ' / ' + netops_shouting.PREFIX
"""

MISSING = """
from extras.scripts import Script
from no_such_helper_anywhere import shout


class Lost(Script):
    def run(self, data, commit):
        return shout('x')
"""


def upload(name, code):
    return save_source(name, textwrap.dedent(code), source='upload', file_path=f'{name}.py')


@pytest.mark.django_db(transaction=True)
def test_a_plain_import_of_a_registered_helper_resolves_to_it():
    assert 'netops_shouting' not in sys.modules
    upload('netops_shouting', HELPERS)
    module = upload('announce', USES_HELPER)
    module.refresh_from_db()
    assert module.status == ModuleStatusChoices.OK, module.error
    script = module.scripts.get(class_name='Announce')
    admin = make_user('admin', is_superuser=True)
    run = submit_run(script, user=admin, data={'who': 'core'}, source=RunSourceChoices.CLI, immediate=True)
    assert (run.status, run.output) == (RunStatusChoices.COMPLETED, 'netops: CORE / netops'), run.error
    # It is the registered module, not a file that happens to be importable.
    assert 'netops_shouting' not in sys.modules


@pytest.mark.django_db(transaction=True)
def test_the_cli_resolves_it_in_a_fresh_process():
    upload('netops_shouting', HELPERS)
    upload('announce', USES_HELPER)
    make_user('admin', is_superuser=True)
    status, out, err = cli('run', 'announce.Announce', '--data', '{"who": "edge"}', '--user', 'admin')
    assert status == 0, err
    assert 'netops: EDGE / netops' in out


def test_a_helper_that_is_nowhere_is_still_a_clear_import_error():
    module = upload('lost', MISSING)
    module = ScriptModule.objects.get(pk=module.pk)
    assert module.status == ModuleStatusChoices.ERROR
    assert "No module named 'no_such_helper_anywhere'" in module.error
