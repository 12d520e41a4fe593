"""
NetBox's own tests of the script authoring API, run against the plugin's.

The source of `extras/tests/test_scripts.py` is read from the installed NetBox at test time and executed with one
change: its import line `from extras.scripts import *` becomes `from netbox_custom_scripts.scripts import *`. Its
test cases that need only the authoring API run here unchanged, under pytest:

- ScriptVariablesTestCase: every variable type, validated through `Script().as_form(data, files)`.
- ScriptMetaValidationTestCase: `Script.validate_meta()`.

Left out, because they test NetBox's own module storage and job machinery, which the plugin replaces (its loader,
records and jobs have their own tests: test_module_sync, test_compat, test_runs, test_worker_runs):

- ScriptModuleLoadingTestCase: loads a file through NetBox's `ScriptModule` model from its `scripts` storage (it
  patches `extras.models.mixins.storages`) and checks NetBox's logger namespace `netbox.scripts.*`.
- ScriptJobEnqueueValidationTestCase: NetBox's `ScriptJob.enqueue()` and the `core.Job` records it creates.

A test case NetBox adds in a later release fails test_every_netbox_test_case_is_run_or_left_out_for_a_reason until
it is sorted into one list or the other.
"""
import importlib.util
import sys
import types
import unittest
from pathlib import Path

import pytest

NETBOX_IMPORT = 'from extras.scripts import *'
PLUGIN_IMPORT = 'from netbox_custom_scripts.scripts import *'

INCLUDED = ('ScriptVariablesTestCase', 'ScriptMetaValidationTestCase')
LEFT_OUT = {
    'ScriptModuleLoadingTestCase': "NetBox's ScriptModule model and scripts storage",
    'ScriptJobEnqueueValidationTestCase': "NetBox's ScriptJob and core.Job records",
}

_spec = importlib.util.find_spec('extras.tests.test_scripts')
if _spec is None or not _spec.origin or not Path(_spec.origin).is_file():
    pytest.skip('this NetBox does not ship extras/tests/test_scripts.py', allow_module_level=True)
NETBOX_TEST_FILE = Path(_spec.origin)


def _load_netbox_tests():
    """NetBox's test module, executed with the plugin's import line, as a module of its own."""
    source = NETBOX_TEST_FILE.read_text()
    if source.count(NETBOX_IMPORT) != 1:
        raise AssertionError(f'{NETBOX_TEST_FILE} no longer has exactly one line {NETBOX_IMPORT!r}')
    module = types.ModuleType(f'{__name__}_netbox', f'NetBox {NETBOX_TEST_FILE.name} on the plugin API')
    module.__file__ = str(NETBOX_TEST_FILE)
    sys.modules[module.__name__] = module
    # Compiled under NetBox's file name, so a failure points at NetBox's line.
    exec(compile(source.replace(NETBOX_IMPORT, PLUGIN_IMPORT), str(NETBOX_TEST_FILE), 'exec'), module.__dict__)
    return module


_netbox_tests = _load_netbox_tests()

# pytest collects the unittest test cases bound in this module.
for _name in INCLUDED:
    globals()[_name] = getattr(_netbox_tests, _name)


def test_the_import_line_is_the_only_change():
    """The executed module is NetBox's file with one line changed, and its Script is the plugin's."""
    from netbox_custom_scripts import scripts

    assert _netbox_tests.Script is scripts.Script and _netbox_tests.ObjectVar is scripts.ObjectVar
    original = NETBOX_TEST_FILE.read_text().splitlines()
    changed = [line for line in original if line == NETBOX_IMPORT]
    assert changed == [NETBOX_IMPORT]


def test_every_netbox_test_case_is_run_or_left_out_for_a_reason():
    cases = {
        name for name, value in vars(_netbox_tests).items()
        if isinstance(value, type) and issubclass(value, unittest.TestCase)
        and value.__module__ == _netbox_tests.__name__
    }
    assert cases == set(INCLUDED) | set(LEFT_OUT)
    tests = [name for name in dir(_netbox_tests.ScriptVariablesTestCase) if name.startswith('test_')]
    assert len(tests) >= 15  # every variable type, not an emptied class
