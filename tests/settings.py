"""
Django settings for the test suite: NetBox's own settings, loaded with develop/configuration.py.

The test command (develop/devctl.py test) sets the database template and the Redis database numbers; the
defaults below keep a bare `pytest` from ever touching the demo's Redis databases.
"""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

os.environ.setdefault('NETBOX_CONFIGURATION', 'develop.configuration')
os.environ.setdefault('NETBOX_ROOT', os.path.join(os.path.dirname(_HERE), '.netbox'))
os.environ.setdefault('NB_REDIS_TASKS_DB', '14')
os.environ.setdefault('NB_REDIS_CACHING_DB', '15')
os.environ.setdefault('NBCS_SCRIPTS_DIR', os.path.join(_HERE, 'fixtures', 'scripts'))
# The test workers read their scripts directory only when a test asks them to (the tests change it under them).
os.environ.setdefault('NBCS_SCRIPTS_DIR_SYNC_INTERVAL', '')

from netbox.settings import *  # noqa: E402, F403
