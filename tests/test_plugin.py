"""
The plugin installs like a well-made NetBox plugin: it registers with NetBox 4.7, refuses other NetBox versions,
and checks its settings at start-up with a message naming the key to fix.
"""
import pytest
from core.exceptions import IncompatiblePluginError
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from netbox.registry import registry

from netbox_custom_scripts import CustomScriptsConfig, validate_settings


def test_registered_with_netbox():
    assert 'netbox_custom_scripts' in registry['plugins']['installed']
    config = apps.get_app_config('netbox_custom_scripts')
    assert config.base_url == 'custom-scripts'
    assert (config.min_version, config.max_version) == ('4.7.0', '4.7.99')


def test_defaults_are_applied():
    plugin_settings = settings.PLUGINS_CONFIG['netbox_custom_scripts']
    # develop/configuration.py sets these three (the test command shortens the grace for the stubborn-script tests,
    # and turns the workers' own directory reads off).
    for key, value in CustomScriptsConfig.default_settings.items():
        if key not in ('scripts_dir', 'stop_grace_period', 'scripts_dir_sync_interval'):
            assert plugin_settings[key] == value


@pytest.mark.parametrize('netbox_version', ['4.6.9', '4.8.0', '5.0.0'])
def test_other_netbox_versions_are_refused(netbox_version):
    with pytest.raises(IncompatiblePluginError):
        CustomScriptsConfig.validate({}, netbox_version)


@pytest.mark.parametrize('key, value, words', [
    ('default_queue', '', "['default_queue'] must be the name of an RQ queue"),
    ('default_job_timeout', -5, "['default_job_timeout'] must be a positive integer or None"),
    ('run_retention_days', 'ninety', "['run_retention_days'] must be a positive integer or None"),
    ('max_module_size', 0, "['max_module_size'] must be a positive integer"),
    ('scripts_dir', 42, "['scripts_dir'] must be a directory path or None"),
    ('sripts_dir', '/tmp', 'unknown setting(s) sripts_dir'),
])
def test_bad_settings_are_named(key, value, words):
    config = dict(CustomScriptsConfig.default_settings)
    config[key] = value
    with pytest.raises(ImproperlyConfigured) as excinfo:
        validate_settings(config)
    assert words in str(excinfo.value)


def test_validate_fills_defaults_and_checks():
    config = {'default_queue': 'high'}
    CustomScriptsConfig.validate(config, '4.7.3')
    assert config['default_queue'] == 'high'
    assert config['max_module_size'] == CustomScriptsConfig.default_settings['max_module_size']
    with pytest.raises(ImproperlyConfigured):
        CustomScriptsConfig.validate({'max_module_size': 'big'}, '4.7.3')


def test_authoring_api_importable_from_the_package():
    from utilities.exceptions import AbortScript as NetBoxAbortScript

    from netbox_custom_scripts import AbortScript, ObjectVar, Script, StringVar
    from netbox_custom_scripts.scripts import Script as ScriptAlias

    assert Script is ScriptAlias
    assert issubclass(AbortScript, NetBoxAbortScript)
    assert StringVar and ObjectVar
