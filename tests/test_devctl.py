"""
The bootstrap behind `make demo` / `make test` stops on bad configuration with one sentence saying what to fix,
never a traceback. Each case runs develop/devctl.py as a newcomer would.
"""
import os
import subprocess
import sys
import sysconfig
import venv

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVCTL = os.path.join(REPO, 'develop', 'devctl.py')


def devctl(*args, **env_overrides):
    env = {key: value for key, value in os.environ.items() if not key.startswith(('NB_', 'PYTHON'))}
    env['NB_VENV'] = sys.prefix  # the test environment's own NetBox: nothing to install
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, DEVCTL, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def assert_one_sentence(result, *words):
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('ERROR: ') and lines[0].endswith('.')
    assert 'Traceback' not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0]


def test_unreachable_database():
    result = devctl('test', NB_DB_HOST='127.0.0.1', NB_DB_PORT='1')
    assert_one_sentence(result, 'PostgreSQL is not reachable at 127.0.0.1:1', 'NB_DB_HOST/NB_DB_PORT')


def test_missing_redis():
    result = devctl('test', NB_REDIS_HOST='127.0.0.1', NB_REDIS_PORT='1')
    assert_one_sentence(result, 'Redis is not reachable at 127.0.0.1:1', 'NB_REDIS_HOST/NB_REDIS_PORT')


def test_python_too_old(tmp_path):
    old_python = tmp_path / 'python3'
    old_python.write_text('#!/bin/sh\nprintf "3.11\\n"\n')  # answers the version probe as Python 3.11 does
    old_python.chmod(0o755)
    result = devctl('test', PYTHON=str(old_python))
    assert_one_sentence(result, f'PYTHON={old_python} is not a working Python 3.12 or newer')


def test_wrong_netbox_version(tmp_path):
    fake = tmp_path / 'venv'
    venv.create(fake, with_pip=False)
    purelib = sysconfig.get_path('purelib', vars={'base': str(fake), 'platbase': str(fake)})
    dist_info = os.path.join(purelib, 'netbox-4.6.2.dist-info')
    os.makedirs(dist_info)
    with open(os.path.join(dist_info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: netbox\nVersion: 4.6.2\n')
    result = devctl('test', NB_VENV=str(fake))
    assert_one_sentence(result, 'needs NetBox 4.7.x', 'has NetBox 4.6.2', 'install netbox==4.7.3')


@pytest.mark.parametrize('command', ['', 'frobnicate'])
def test_usage(command):
    result = devctl(*([command] if command else []))
    assert result.returncode == 2
    assert 'make demo' in result.stdout
