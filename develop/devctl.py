#!/usr/bin/env python3
"""
Bring up a development NetBox with the plugin, run the tests, stop what was started.

    python3 develop/devctl.py demo     # (make demo)  NetBox + plugin + RQ worker on 127.0.0.1, admin user and token
    python3 develop/devctl.py test     # (make test)  the same bootstrap, then pytest
    python3 develop/devctl.py stop     # (make stop)  stop the demo's processes, by recorded PIDs
    python3 develop/devctl.py bench    # (make bench) the plugin, built-in scripts and netbox-scripts, side by side
    python3 develop/devctl.py env      # print the environment, for `eval "$(python3 develop/devctl.py env)"`

Runs with any python3 >= 3.8 (it only orchestrates); NetBox itself runs in .venv on a Python >= 3.12 it finds.
Every failure ends in one sentence that says what to fix. Environment variables (all optional):
  PYTHON                           interpreter to create .venv with (default: the newest python >= 3.12 found)
  NB_VENV                          use this existing virtualenv instead of .venv
  NB_DB_HOST/PORT/USER/PASSWORD    PostgreSQL (default 127.0.0.1:5432, role nbcs/nbcs, created when missing)
  NB_DB_NAME                       demo database (default nbcs_demo)
  NB_REDIS_HOST/PORT               Redis (default 127.0.0.1:6379)
  NB_DEMO_PORT                     web server port of the demo (default 8001)
"""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

if sys.version_info < (3, 8):
    sys.exit('develop/devctl.py needs python3 >= 3.8 to run (NetBox itself needs >= 3.12).')

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = os.path.join(REPO, '.netbox')
RUN_DIR = os.path.join(INSTANCE, 'run')
NETBOX_VERSION = '4.7.3'
MIN_PG_VERSION = 150000

env = os.environ
IS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0
DB_HOST = env.get('NB_DB_HOST', '127.0.0.1')
DB_PORT = int(env.get('NB_DB_PORT', '5432'))
DB_USER = env.get('NB_DB_USER', 'nbcs')
DB_PASSWORD = env.get('NB_DB_PASSWORD', 'nbcs')
REDIS_HOST = env.get('NB_REDIS_HOST', '127.0.0.1')
REDIS_PORT = int(env.get('NB_REDIS_PORT', '6379'))
LOCAL_HOSTS = ('127.0.0.1', 'localhost', '::1')


class Stop(Exception):
    """A problem the user has to fix; its message is the one sentence we print."""


def say(message):
    print(f'==> {message}', flush=True)


def run(cmd, check=True, quiet=False, **kwargs):
    if quiet:
        kwargs.setdefault('stdout', subprocess.DEVNULL)
        kwargs.setdefault('stderr', subprocess.DEVNULL)
    result = subprocess.run(cmd, **kwargs)
    if check and result.returncode != 0:
        raise Stop(f'Command failed ({result.returncode}): {" ".join(cmd)}')
    return result


def capture(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


#
# Python and the virtualenv
#

def python_version(executable):
    try:
        out = subprocess.run(
            [executable, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None  # e.g. a pyenv shim for a version that is not selected
    major, minor = out.stdout.strip().split('.')
    return int(major), int(minor)


def find_python():
    if env.get('PYTHON'):
        version = python_version(env['PYTHON'])
        if not version or version < (3, 12):
            raise Stop(f'PYTHON={env["PYTHON"]} is not a working Python 3.12 or newer; point it at one.')
        return env['PYTHON']
    candidates = [shutil.which(name) for name in ('python3.14', 'python3.13', 'python3.12', 'python3')]
    pyenv_root = env.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    if shutil.which('pyenv'):
        out = capture(['pyenv', 'root'])
        if out.returncode == 0:
            pyenv_root = out.stdout.strip()
    candidates += sorted(glob.glob(os.path.join(pyenv_root, 'versions', '3.1[2-9]*', 'bin', 'python3')), reverse=True)
    found = []
    for candidate in candidates:
        if candidate and (version := python_version(candidate)) and version >= (3, 12):
            found.append((version, candidate))
    if not found:
        raise Stop(
            'No Python 3.12 or newer was found: install one (apt-get install python3.12, or pyenv install 3.12) '
            'or set PYTHON=/path/to/python3.12.'
        )
    return max(found)[1]


def venv_dir():
    return os.path.abspath(env['NB_VENV']) if env.get('NB_VENV') else os.path.join(REPO, '.venv')


def venv_bin(name):
    return os.path.join(venv_dir(), 'bin', name)


def ensure_build_tools():
    """psycopg[c], a NetBox dependency, compiles against libpq: it needs gcc and pg_config."""
    missing = [tool for tool in ('gcc', 'pg_config') if not shutil.which(tool)]
    if not missing:
        return
    if IS_ROOT and shutil.which('apt-get'):
        say('Installing build-essential and libpq-dev with apt-get (needed to build psycopg for NetBox)')
        run(['apt-get', 'update', '-q'])
        run(['apt-get', 'install', '-y', '-q', 'build-essential', 'libpq-dev'])
        return
    raise Stop(
        f'{" and ".join(missing)} not found: install them (sudo apt-get install build-essential libpq-dev) so pip '
        f'can build psycopg for NetBox.'
    )


def ensure_venv():
    venv = venv_dir()
    python = venv_bin('python')
    if env.get('PYTHON'):
        find_python()  # an explicit choice is checked even when .venv already exists
    if env.get('NB_VENV'):
        if not os.path.exists(python):
            raise Stop(f'NB_VENV={venv} has no bin/python; point it at the virtualenv NetBox is installed in.')
    elif not os.path.exists(python) or (python_version(python) or (0, 0)) < (3, 12):
        interpreter = find_python()
        say(f'Creating {os.path.relpath(venv, REPO)} with {interpreter}')
        shutil.rmtree(venv, ignore_errors=True)
        run([interpreter, '-m', 'venv', venv])

    # Install (or re-install) only when the project's dependencies changed.
    with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
        stamp_value = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(venv, '.netbox-custom-scripts-installed')
    if os.path.exists(stamp) and open(stamp).read() == stamp_value:
        check_netbox_version()
        return
    if env.get('NB_VENV'):
        check_netbox_version()
        say(f'Installing the plugin (editable) and the test tools into {venv}')
        run([python, '-m', 'pip', 'install', '-q', '-e', REPO, 'pytest==9.2.0', 'pytest-django==4.14.0'])
    else:
        if not netbox_installed_version():
            ensure_build_tools()
        say(f'Installing NetBox {NETBOX_VERSION} and the plugin (editable) into .venv')
        run([python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-e', f'{REPO}[dev]'])
        check_netbox_version()
    with open(stamp, 'w') as f:
        f.write(stamp_value)


def netbox_installed_version():
    out = capture([venv_bin('python'), '-c', 'from importlib.metadata import version; print(version("netbox"))'])
    return out.stdout.strip() if out.returncode == 0 else None


def check_netbox_version():
    installed = netbox_installed_version()
    if not installed:
        raise Stop(f'NetBox is not installed in {venv_dir()}; install netbox=={NETBOX_VERSION} there.')
    if not installed.startswith('4.7.'):
        raise Stop(
            f'This plugin needs NetBox 4.7.x, but {venv_dir()} has NetBox {installed}; '
            f'install netbox=={NETBOX_VERSION}.'
        )


#
# PostgreSQL and Redis
#

def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_local_postgresql():
    if shutil.which('pg_lsclusters') is None and IS_ROOT and shutil.which('apt-get'):
        say('PostgreSQL is not installed: installing it with apt-get')
        run(['apt-get', 'update', '-q'])
        run(['apt-get', 'install', '-y', '-q', 'postgresql'])
    if shutil.which('pg_lsclusters') and shutil.which('pg_ctlcluster'):
        for line in capture(['pg_lsclusters', '--no-header']).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[3] != 'online':
                say(f'Starting PostgreSQL {parts[0]}/{parts[1]}')
                run(['pg_ctlcluster', '--skip-systemctl-redirect', parts[0], parts[1], 'start'], check=False)
        for _ in range(30):
            if port_open(DB_HOST, DB_PORT):
                return True
            time.sleep(0.5)
    return False


def start_local_redis():
    if shutil.which('redis-server') is None and IS_ROOT and shutil.which('apt-get'):
        say('Redis is not installed: installing it with apt-get')
        run(['apt-get', 'update', '-q'])
        run(['apt-get', 'install', '-y', '-q', 'redis-server'])
    if shutil.which('redis-server'):
        say(f'Starting Redis on {REDIS_HOST}:{REDIS_PORT}')
        run(['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '--port', str(REDIS_PORT),
             '--save', '', '--appendonly', 'no'], check=False, quiet=True)
        for _ in range(20):
            if port_open(REDIS_HOST, REDIS_PORT):
                return True
            time.sleep(0.25)
    return False


def redis_ping():
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
            password = env.get('NB_REDIS_PASSWORD')
            if password:
                sock.sendall(f'AUTH {password}\r\n'.encode())
                sock.recv(64)
            sock.sendall(b'PING\r\n')
            return sock.recv(64).startswith(b'+PONG')
    except OSError:
        return False


def ensure_redis():
    if redis_ping():
        return
    if REDIS_HOST in LOCAL_HOSTS and not env.get('NB_REDIS_HOST') and start_local_redis() and redis_ping():
        return
    raise Stop(
        f'Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: start it (redis-server --daemonize yes) '
        f'or set NB_REDIS_HOST/NB_REDIS_PORT to a running one.'
    )


DB_TOOL = r"""
import json, sys
import psycopg
from psycopg import sql

args = json.loads(sys.argv[1])
conninfo = dict(host=args["host"], port=args["port"], user=args["user"], password=args["password"],
                dbname="postgres", connect_timeout=5, autocommit=True)
try:
    conn = psycopg.connect(**conninfo)
except psycopg.OperationalError as exc:
    print(json.dumps({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"}))
    sys.exit(0)
with conn:
    op = args["op"]
    if op == "info":
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        createdb = conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        dbs = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
        print(json.dumps({"version": int(version), "createdb": createdb, "databases": dbs}))
    elif op == "create_role":
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [args["role"]]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(args["role"]), sql.Literal(args["role_password"])))
        print(json.dumps({"created": not exists}))
    elif op == "clone":
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args["target"])))
        if args.get("template"):
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(args["target"]), sql.Identifier(args["template"])))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args["target"])))
        print(json.dumps({"ok": True}))
    elif op == "rename":
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args["target"])))
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(args["source"]), sql.Identifier(args["target"])))
        print(json.dumps({"ok": True}))
    elif op == "drop":
        for name in args["names"]:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        print(json.dumps({"ok": True}))
"""


def db_tool(op, user=DB_USER, password=DB_PASSWORD, **kwargs):
    args = dict(op=op, host=DB_HOST, port=DB_PORT, user=user, password=password, **kwargs)
    out = capture([venv_bin('python'), '-c', DB_TOOL, json.dumps(args)])
    if out.returncode != 0:
        raise Stop(f'The database helper failed: {out.stdout.strip().splitlines()[-1] if out.stdout.strip() else op}.')
    return json.loads(out.stdout.strip().splitlines()[-1])


def create_role_as_admin():
    """Create the development role, as a PostgreSQL superuser reachable without a password."""
    admin = env.get('NB_DB_ADMIN_USER', 'postgres')
    result = db_tool('create_role', user=admin, password=env.get('NB_DB_ADMIN_PASSWORD', ''),
                     role=DB_USER, role_password=DB_PASSWORD)
    if 'error' not in result:
        return True
    if IS_ROOT and shutil.which('runuser') and shutil.which('psql'):
        # Debian's default: the postgres OS user has peer access over the local socket.
        statement = (
            f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}') THEN "
            f"CREATE ROLE \"{DB_USER}\" LOGIN CREATEDB PASSWORD '{DB_PASSWORD}'; END IF; END$$;"
        )
        out = capture(['runuser', '-u', 'postgres', '--', 'psql', '-q', '-c', statement], cwd='/')
        return out.returncode == 0
    return False


def ensure_postgresql():
    if not port_open(DB_HOST, DB_PORT):
        local = DB_HOST in LOCAL_HOSTS and not env.get('NB_DB_HOST')
        if not (local and start_local_postgresql()):
            raise Stop(
                f'PostgreSQL is not reachable at {DB_HOST}:{DB_PORT}: start it (pg_ctlcluster 15 main start) '
                f'or set NB_DB_HOST/NB_DB_PORT to a running PostgreSQL 15 or newer.'
            )
    info = db_tool('info')
    if 'error' in info:
        if 'password authentication failed' in info['error'] or 'does not exist' in info['error']:
            say(f'Creating the PostgreSQL role {DB_USER} (LOGIN CREATEDB)')
            if not create_role_as_admin():
                raise Stop(
                    f'Cannot log in to PostgreSQL as {DB_USER} and cannot create that role: run '
                    f'sudo -u postgres psql -c "CREATE ROLE {DB_USER} LOGIN CREATEDB PASSWORD \'{DB_PASSWORD}\'" '
                    f'or set NB_DB_USER/NB_DB_PASSWORD to a role with CREATEDB.'
                )
            info = db_tool('info')
        if 'error' in info:
            raise Stop(f'Cannot connect to PostgreSQL at {DB_HOST}:{DB_PORT} as {DB_USER}: {info["error"]}.')
    if info['version'] < MIN_PG_VERSION:
        raise Stop(
            f'NetBox needs PostgreSQL 15 or newer, but {DB_HOST}:{DB_PORT} runs version {info["version"]}; '
            f'upgrade it.'
        )
    if not info['createdb']:
        raise Stop(f'The PostgreSQL role {DB_USER} needs CREATEDB: ALTER ROLE {DB_USER} CREATEDB;')
    return info


#
# NetBox environment, template databases
#

def netbox_env(**overrides):
    values = dict(env)
    values.update({
        'NETBOX_ROOT': INSTANCE,
        'NETBOX_CONFIGURATION': 'develop.configuration',
        'PYTHONPATH': REPO + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''),
        'NB_DB_HOST': DB_HOST, 'NB_DB_PORT': str(DB_PORT), 'NB_DB_USER': DB_USER, 'NB_DB_PASSWORD': DB_PASSWORD,
        'NB_REDIS_HOST': REDIS_HOST, 'NB_REDIS_PORT': str(REDIS_PORT),
        'PATH': os.path.dirname(venv_bin('python')) + os.pathsep + env.get('PATH', ''),
    })
    values.setdefault('NB_DB_NAME', 'nbcs_demo')
    values.update(overrides)
    return values


def netbox(*args, check=True, quiet=False, **overrides):
    return run([venv_bin('netbox'), *args], check=check, quiet=quiet, env=netbox_env(**overrides), cwd=REPO)


def migrations_key():
    digest = hashlib.sha256(NETBOX_VERSION.encode())
    for path in sorted(glob.glob(os.path.join(REPO, 'netbox_custom_scripts', 'migrations', '*.py'))):
        with open(path, 'rb') as f:
            digest.update(os.path.basename(path).encode() + b'\0' + f.read())
    return digest.hexdigest()[:12]


def base_template_name():
    return 'nbcs_base_netbox_' + NETBOX_VERSION.replace('.', '_')


def template_name():
    return f'nbcs_tpl_{NETBOX_VERSION.replace(".", "_")}_{migrations_key()}'


def ensure_templates(info):
    """
    Two template databases: NetBox alone, migrated once per NetBox version (the slow part, ~7 minutes on two cores),
    and that plus the plugin's migrations, keyed by their content (seconds). Tests and the demo clone the second.
    """
    databases = set(info['databases'])
    base, full = base_template_name(), template_name()
    if base not in databases:
        building = base + '_building'
        say(f'Migrating a fresh NetBox {NETBOX_VERSION} database once, as a template (about 7 minutes on 2 cores); '
            f'later runs clone it in seconds')
        db_tool('clone', target=building)
        netbox('migrate', '--no-input', '--skip-checks', NB_DB_NAME=building, NB_PLUGINS='')
        db_tool('rename', source=building, target=base)
    if full not in databases:
        building = full + '_building'
        say('Applying the plugin migrations to a copy of the NetBox template')
        db_tool('clone', target=building, template=base)
        netbox('migrate', '--no-input', '--skip-checks', NB_DB_NAME=building)
        db_tool('rename', source=building, target=full)
        stale = [name for name in databases if name.startswith('nbcs_tpl_') and name != full]
        if stale:
            db_tool('drop', names=stale)
    return full


# netboxlabs-netbox-branching: its tests (tests/branching) run in a second pytest, on a NetBox with both plugins,
# whose database is the plugin template plus branching's migrations.
BRANCHING_PLUGINS = 'netbox_custom_scripts,netbox_branching'
BRANCHING_TESTS = os.path.join('tests', 'branching')


def branching_template_name():
    return template_name().replace('nbcs_tpl_', 'nbcs_btpl_', 1)


def ensure_branching_template(full):
    databases = set(db_tool('info')['databases'])
    name = branching_template_name()
    if name not in databases:
        building = name + '_building'
        say('Applying the netbox-branching migrations to a copy of the plugin template')
        db_tool('clone', target=building, template=full)
        netbox('migrate', '--no-input', '--skip-checks', NB_DB_NAME=building, NB_PLUGINS=BRANCHING_PLUGINS)
        db_tool('rename', source=building, target=name)
        stale = [db for db in databases if db.startswith('nbcs_btpl_') and db != name]
        if stale:
            db_tool('drop', names=stale)
    return name


#
# Commands
#

def bootstrap():
    ensure_venv()
    info = ensure_postgresql()
    ensure_redis()
    os.makedirs(os.path.join(INSTANCE, 'scripts'), exist_ok=True)
    os.makedirs(os.path.join(INSTANCE, 'media'), exist_ok=True)
    return ensure_templates(info)


def pid_alive(pid):
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def read_pids():
    pids = {}
    for path in glob.glob(os.path.join(RUN_DIR, '*.pid')):
        try:
            pids[os.path.basename(path)[:-4]] = int(open(path).read().strip())
        except (OSError, ValueError):
            pass
    return pids


def cmd_stop(_args):
    stopped = []
    for name, pid in read_pids().items():
        if pid_alive(pid):
            try:
                os.killpg(pid, 15)
            except OSError:
                os.kill(pid, 15)
            stopped.append(name)
        os.unlink(os.path.join(RUN_DIR, f'{name}.pid'))
    say(f'Stopped {", ".join(sorted(stopped))}' if stopped else 'Nothing was running')


DEMO_SETUP = r"""
import os
from django.contrib.auth import get_user_model
from users.models import Token
from netbox_custom_scripts.execution import sync_directory

User = get_user_model()
user, created = User.objects.get_or_create(username="admin", defaults={"is_superuser": True})
if created:
    user.set_password("admin")
    user.save()
token = Token.objects.filter(user=user, description="demo").first()
token_file = os.path.join(os.environ["NETBOX_ROOT"], "run", "demo-token")
header = open(token_file).read().strip() if token and os.path.exists(token_file) else None
if header is None:
    Token.objects.filter(user=user, description="demo").delete()
    token = Token(user=user, description="demo")
    token.full_clean()
    token.save()
    header = token.get_auth_header_prefix() + token.token
    with open(token_file, "w") as f:
        f.write(header)
result = sync_directory(force=True)
print("scripts:", len(result.created) + len(result.updated), "modules changed;", len(result.errors), "errors")
"""


def cmd_demo(_args):
    template = bootstrap()
    if 'netbox_branching' in env.get('NB_PLUGINS', ''):
        template = ensure_branching_template(template)  # NB_PLUGINS=netbox_custom_scripts,netbox_branching make demo
    name = env.get('NB_DB_NAME', 'nbcs_demo')
    info = db_tool('info')
    if name not in info['databases']:
        say(f'Creating the demo database {name} from the template')
        db_tool('clone', target=name, template=template)
    else:
        netbox('migrate', '--no-input', '--skip-checks', NB_DB_NAME=name)
    os.makedirs(RUN_DIR, exist_ok=True)
    collect_static()
    setup = capture(
        [venv_bin('netbox'), 'shell', '--no-startup', '-c', DEMO_SETUP], env=netbox_env(NB_DB_NAME=name), cwd=REPO
    )
    if setup.returncode != 0:
        raise Stop(f'Setting up the demo users and scripts failed: {setup.stdout.strip().splitlines()[-1]}')
    say(setup.stdout.strip().splitlines()[-1])

    port = int(env.get('NB_DEMO_PORT', '8001'))
    running = read_pids()
    if all(pid_alive(running.get(p, -1)) for p in ('web', 'worker')):
        say('The demo is already running (make stop stops it); it now serves the current code after a restart only')
    else:
        cmd_stop(None)
        if port_open('127.0.0.1', port):
            raise Stop(f'Port {port} on 127.0.0.1 is taken by another program: stop it or set NB_DEMO_PORT.')
        processes = {
            'web': [venv_bin('netbox'), 'runserver', f'127.0.0.1:{port}', '--insecure', '--noreload', '--skip-checks'],
            'worker': [venv_bin('netbox'), 'rqworker', '--skip-checks', *worker_queues()],
        }
        for proc_name, command in processes.items():
            log = open(os.path.join(RUN_DIR, f'{proc_name}.log'), 'ab')
            proc = subprocess.Popen(command, env=netbox_env(NB_DB_NAME=name), cwd=REPO, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            with open(os.path.join(RUN_DIR, f'{proc_name}.pid'), 'w') as f:
                f.write(str(proc.pid))
        for _ in range(120):
            if port_open('127.0.0.1', port):
                break
            if not pid_alive(read_pids().get('web', -1)):
                raise Stop(f'The web server did not start; see {os.path.join(RUN_DIR, "web.log")}.')
            time.sleep(0.5)
    token = open(os.path.join(RUN_DIR, 'demo-token')).read().strip()
    print()
    print(f'  NetBox with netbox-custom-scripts: http://127.0.0.1:{port}/plugins/custom-scripts/scripts/')
    print('  Log in as admin / admin')
    print(f'  API token header: Authorization: {token}')
    print(f'  Logs: {os.path.relpath(RUN_DIR, REPO)}/web.log, worker.log; stop with: make stop')


def worker_queues():
    return ['high', 'default', 'low']


def ensure_browser():
    """The browser tests drive Debian's Chromium (no browser download): install it when we may."""
    if shutil.which('chromium') or os.path.exists('/usr/bin/chromium'):
        return
    if IS_ROOT and shutil.which('apt-get'):
        say('Installing chromium with apt-get (for the browser tests)')
        run(['apt-get', 'update', '-q'])
        run(['apt-get', 'install', '-y', '-q', 'chromium'])
    else:
        say('chromium is not installed: the browser tests will be skipped (sudo apt-get install chromium)')


def split_test_args(args):
    """
    (main suite's arguments, branching suite's) for `args`: options go to both; test paths to the suite they are in.
    None for a suite that is not to run (paths were given, none of them its).
    """
    paths = [arg for arg in args if not arg.startswith('-') and os.path.exists(arg.split('::')[0])]
    options = [arg for arg in args if arg not in paths]
    if not paths:
        return [*options, '--ignore', BRANCHING_TESTS], [*options, BRANCHING_TESTS]
    branching = [path for path in paths if os.path.normpath(path).startswith(BRANCHING_TESTS)]
    main = [path for path in paths if path not in branching]
    return ([*options, *main] if main else None), ([*options, *branching] if branching else None)


def cmd_test(args):
    template = bootstrap()
    ensure_browser()
    main_args, branching_args = split_test_args(args)
    overrides = {
        'NB_TEST_TEMPLATE': template,
        'NB_TEST_DB_NAME': env.get('NB_TEST_DB_NAME', 'test_nbcs'),
        'NB_REDIS_TASKS_DB': env.get('NB_REDIS_TASKS_DB', '14'),
        'NB_REDIS_CACHING_DB': env.get('NB_REDIS_CACHING_DB', '15'),
        'NBCS_STOP_GRACE_PERIOD': env.get('NBCS_STOP_GRACE_PERIOD', '3'),
    }
    status = 0
    if main_args is not None:
        command = [venv_bin('python'), '-m', 'pytest', '--create-db', *main_args]
        say('pytest ' + ' '.join(command[3:]))
        status = subprocess.call(command, env=netbox_env(**overrides), cwd=REPO)
    if branching_args is not None:
        overrides.update(
            NB_TEST_TEMPLATE=ensure_branching_template(template), NB_PLUGINS=BRANCHING_PLUGINS,
            NB_TEST_DB_NAME=overrides['NB_TEST_DB_NAME'] + '_branching',
        )
        command = [venv_bin('python'), '-m', 'pytest', '--create-db', *branching_args]
        say(f'pytest (with netbox-branching) {" ".join(command[3:])}')
        status = subprocess.call(command, env=netbox_env(**overrides), cwd=REPO) or status
    return status


def collect_static():
    stamp = os.path.join(INSTANCE, 'static', '.collected-' + NETBOX_VERSION)
    if not os.path.exists(stamp):
        say('Collecting static files')
        netbox('collectstatic', '--no-input', '--skip-checks', quiet=True)
        open(stamp, 'w').close()


# The peer bench/ runs beside the plugin and NetBox's built-in scripts (installed into the venv when missing).
NETBOX_SCRIPTS_VERSION = '0.0.1'


def ensure_netbox_scripts():
    out = capture([venv_bin('python'), '-c',
                   'from importlib.metadata import version; print(version("netbox-scripts"))'])
    if out.returncode == 0 and out.stdout.strip() == NETBOX_SCRIPTS_VERSION:
        return
    say(f'Installing netbox-scripts {NETBOX_SCRIPTS_VERSION} into {venv_dir()} (for the bench)')
    run([venv_bin('python'), '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-deps',
         f'netbox-scripts=={NETBOX_SCRIPTS_VERSION}'])


def cmd_bench(_args):
    """
    bench/run.py on an instance of its own: a fresh database, Redis databases 4/5, port 8002, with both this
    plugin and netbox-scripts in PLUGINS (develop/configuration.py then adds its STORAGES entry).
    """
    # Cloned from the NetBox-only template, then migrated here: the bench database always has this checkout's
    # plugin migrations (and netbox-scripts'), whatever another checkout left in the shared plugin template.
    ensure_venv()
    info = ensure_postgresql()
    ensure_redis()
    if base_template_name() not in info['databases']:
        ensure_templates(info)
    ensure_netbox_scripts()
    collect_static()
    root = os.path.join(INSTANCE, 'bench')
    os.makedirs(os.path.join(root, 'media'), exist_ok=True)
    for name in ('nsx-storage', 'nsx-runtime-cache'):  # netbox-scripts' source storage and its runtime cache
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        os.makedirs(os.path.join(root, name), mode=0o700)
    static = os.path.join(root, 'static')
    if not os.path.islink(static):
        shutil.rmtree(static, ignore_errors=True)
        os.symlink(os.path.join(INSTANCE, 'static'), static)
    database = env.get('NB_BENCH_DB_NAME', 'nbcs_bench')
    say(f'Creating the bench database {database} from the NetBox template')
    db_tool('clone', target=database, template=base_template_name())
    overrides = {
        'NETBOX_ROOT': root, 'NB_DB_NAME': database, 'NB_REDIS_TASKS_DB': '4', 'NB_REDIS_CACHING_DB': '5',
        'NBCS_SCRIPTS_DIR': os.path.join(root, 'scripts'), 'DJANGO_SETTINGS_MODULE': 'netbox.settings',
        'NB_PLUGINS': 'netbox_custom_scripts,netbox_scripts', 'NB_BENCH_NSX_VERSION': NETBOX_SCRIPTS_VERSION,
    }
    say('Applying the plugin and netbox-scripts migrations to it')
    netbox('migrate', '--no-input', '--skip-checks', **overrides)
    bench_env = netbox_env(**overrides)
    run([venv_bin('python'), '-c', 'import django_rq, django; django.setup(); '
         'django_rq.get_connection("default").flushdb()'], env=bench_env, cwd=REPO)
    return subprocess.call([venv_bin('python'), os.path.join(REPO, 'bench', 'run.py')], env=bench_env, cwd=REPO)


def cmd_env(_args):
    for key, value in netbox_env().items():
        if key.startswith(('NB_', 'NETBOX_')) or key in ('PYTHONPATH', 'PATH'):
            print(f'export {key}={json.dumps(value)}')


def main(argv):
    commands = {'demo': cmd_demo, 'test': cmd_test, 'stop': cmd_stop, 'bench': cmd_bench, 'env': cmd_env}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[argv[0]](argv[1:]) or 0
    except Stop as exc:
        print(f'ERROR: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
