"""
The one NetBox configuration used by the demo instance, the test suite and bench/.

Every value comes from an environment variable with a localhost default, so the same file serves a laptop,
CI and a shared machine. develop/env.sh exports the variables; NETBOX_CONFIGURATION=develop.configuration
selects this module (the repository root must be on PYTHONPATH).
"""
import os

_env = os.environ.get
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ALLOWED_HOSTS = ['*']

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': _env('NB_DB_NAME', 'nbcs_demo'),
        'USER': _env('NB_DB_USER', 'nbcs'),
        'PASSWORD': _env('NB_DB_PASSWORD', 'nbcs'),
        'HOST': _env('NB_DB_HOST', '127.0.0.1'),
        'PORT': _env('NB_DB_PORT', '5432'),
        'CONN_MAX_AGE': 300,
        'TEST': {
            # The test database is cloned from a migrated template (see develop/dbtemplate.py) instead of
            # running NetBox's ~340 migrations on every run.
            'NAME': _env('NB_TEST_DB_NAME', 'test_nbcs'),
            'TEMPLATE': _env('NB_TEST_TEMPLATE') or None,
        },
    }
}


def _redis(database_env, default_database):
    return {
        'HOST': _env('NB_REDIS_HOST', '127.0.0.1'),
        'PORT': int(_env('NB_REDIS_PORT', '6379')),
        'USERNAME': _env('NB_REDIS_USERNAME', ''),
        'PASSWORD': _env('NB_REDIS_PASSWORD', ''),
        'DATABASE': int(_env(database_env, default_database)),
        'SSL': _env('NB_REDIS_SSL', '0') == '1',
    }


# The demo uses Redis databases 2/3; the tests override them with 14/15 (develop/env.sh) so a running demo
# worker never takes a test's job.
REDIS = {
    'tasks': _redis('NB_REDIS_TASKS_DB', '2'),
    'caching': _redis('NB_REDIS_CACHING_DB', '3'),
}

# Development-only secrets: this configuration must never serve a production instance.
SECRET_KEY = _env('NB_SECRET_KEY', 'dev-only-netbox-custom-scripts-secret-key-0123456789-abcdefghij')
API_TOKEN_PEPPERS = {1: _env('NB_API_TOKEN_PEPPER', 'dev-only-netbox-custom-scripts-token-pepper-0123456789-abcdef')}

DEBUG = _env('NB_DEBUG', '0') == '1'
DEVELOPER = _env('NB_DEVELOPER', '0') == '1'

# NB_PLUGINS='' gives a stock NetBox (used to build the NetBox-only template database).
PLUGINS = [p for p in _env('NB_PLUGINS', 'netbox_custom_scripts').split(',') if p]
PLUGINS_CONFIG = {
    'netbox_custom_scripts': {
        'scripts_dir': _env('NBCS_SCRIPTS_DIR', os.path.join(_REPO_ROOT, 'develop', 'scripts')),
        # The tests turn it off ('' ): a worker's own read of its directory must not change a test's modules.
        'scripts_dir_sync_interval': int(_env('NBCS_SCRIPTS_DIR_SYNC_INTERVAL', '1') or 0) or None,
        # The test command shortens it, so the tests of scripts that will not stop need not wait 10 s each.
        'stop_grace_period': int(_env('NBCS_STOP_GRACE_PERIOD', '10')),
    },
}

# Stock NetBox's own script modules (used by bench/ for the side-by-side comparison) and uploaded files.
_INSTANCE = _env('NETBOX_ROOT', os.path.join(_REPO_ROOT, '.netbox'))
SCRIPTS_ROOT = os.path.join(_INSTANCE, 'scripts')
REPORTS_ROOT = os.path.join(_INSTANCE, 'reports')
MEDIA_ROOT = os.path.join(_INSTANCE, 'media')

# NetBox Labs' netbox-scripts, which bench/ runs beside the plugin (NB_PLUGINS=netbox_custom_scripts,netbox_scripts):
# its Script Project source needs a storage entry of its own, and its runtime cache stays in the instance directory.
# Inert unless it is in PLUGINS.
if 'netbox_scripts' in PLUGINS:
    STORAGES = {
        'netbox_scripts': {
            'BACKEND': 'django.core.files.storage.FileSystemStorage',
            'OPTIONS': {'location': os.path.join(_INSTANCE, 'nsx-storage')},
        },
    }
    PLUGINS_CONFIG['netbox_scripts'] = {'runtime_cache_root': os.path.join(_INSTANCE, 'nsx-runtime-cache')}

# netboxlabs-netbox-branching (NB_PLUGINS=netbox_custom_scripts,netbox_branching; tests/branching runs so): it must be
# the last plugin, and it routes the queries of branch-aware models to the active branch's schema.
if 'netbox_branching' in PLUGINS:
    from netbox_branching.utilities import DynamicSchemaDict

    PLUGINS = [plugin for plugin in PLUGINS if plugin != 'netbox_branching'] + ['netbox_branching']
    DATABASES = DynamicSchemaDict(DATABASES)
    DATABASE_ROUTERS = ['netbox_branching.database.BranchAwareRouter']

TIME_ZONE = 'UTC'
CENSUS_REPORTING_ENABLED = False
RELEASE_CHECK_URL = None
DEFAULT_PERMISSIONS = {}

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'loggers': {
        'netbox_custom_scripts': {'handlers': ['console'], 'level': _env('NBCS_LOG_LEVEL', 'WARNING')},
    },
}
