"""
Side-by-side timings of three systems in one run, on one instance: NetBox's built-in custom scripts, NetBox Labs'
netbox-scripts plugin, and netbox-custom-scripts (this plugin).

Started by `make bench` (python3 develop/devctl.py bench), which prepares the environment this module expects:
a database of its own (cloned fresh from the migrated template, netbox_scripts' migrations applied), Redis
databases of their own, netbox-scripts installed, both plugins in PLUGINS, and an instance directory whose
SCRIPTS_ROOT holds the workload modules. The same module files - written for NetBox's built-in scripts
(`from extras.scripts import *`) - are registered with each system its own way and run through each system's own
entry point (REST run endpoint, CLI, UI pages, list endpoints), the three interleaved.

Results: a Markdown table (bench/results/latest.md) and the same rows as JSON (bench/results/latest.json); the
run before moves to previous.md / previous.json, and every key whose plugin value got more than 10 % worse than
in previous.json is printed. NB_BENCH_ONLY=key1,key2 runs only those rows (written to results/partial.*, compared
with latest.json); NB_BENCH_QUICK=1 takes fewer repetitions.
"""
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = os.environ['NETBOX_ROOT']
SCRIPTS = os.path.join(INSTANCE, 'scripts')
NSX_SOURCE = os.path.join(INSTANCE, 'nsx-source')   # the local Data Source netbox-scripts reads the list modules from
RUN_DIR = os.path.join(INSTANCE, 'run')
RESULTS = os.path.join(REPO, 'bench', 'results')
PORT = int(os.environ.get('NB_BENCH_PORT', '8002'))
BASE = f'http://127.0.0.1:{PORT}'
NETBOX = os.path.join(os.path.dirname(sys.executable), 'netbox')
NSX_VERSION = os.environ.get('NB_BENCH_NSX_VERSION', '')
QUICK = os.environ.get('NB_BENCH_QUICK') == '1'   # fewer repetitions, for a smoke test of the bench itself
REPS = 2 if QUICK else 5
SLOW_REPS = 1 if QUICK else 3
THROUGHPUT_REPS = 1 if QUICK else 3
QUEUES = ('high', 'default', 'low')

SYSTEMS = ('builtin', 'netbox_scripts', 'plugin')
LABELS = {'builtin': 'built-in', 'netbox_scripts': 'netbox-scripts', 'plugin': 'plugin'}

# key: (workload, unit, target). A target is (comparison, value, against): against 'peers' means plugin / built-in
# and plugin / netbox-scripts must both meet it, 'builtin' only plugin / built-in, 'absolute' the plugin's own value.
ROWS = {
    'trivial_api': ('Trivial script, API POST to completed, 1 worker', 's', ('<=', 0.8, 'peers')),
    'cli': ('Trivial script from the CLI, whole process', 's', ('<=', 0.3, 'peers')),
    'ips_commit': ('CreateIPs 1000, commit on: run time', 's', ('<=', 0.9, 'peers')),
    'ips_dry': ('CreateIPs 1000, dry run: run time', 's', ('<=', 0.8, 'peers')),
    'log10k_run': ('LogMany 10,000 lines: POST to completed, log written', 's', ('<=', 1.0, 'peers')),
    'log100k_run': ('LogMany 100,000 lines: POST to completed, log written', 's', ('<=', 1.0, 'peers')),
    'log_first_page': ('10,000-line run: result page with its first log page', 's', ('<=', 0.5, 'peers')),
    'log_1000_page': ('10,000-line run: a 1000-line log page', 's', ('<=', 0.4, 'peers')),
    'log_100k_vs_10': ('Plugin run page, 100,000-line run over 10-line run', 'ratio', ('<=', 1.5, 'absolute')),
    'list_ui': ('List 205 scripts, UI, all rows', 's', ('<=', 0.1, 'peers')),
    'list_api': ('List 205 scripts, API, limit=1000', 's', ('<=', 0.2, 'peers')),
    'throughput_1w': ('100 Noop runs queued at once, 1 worker', 'runs/s', ('>=', 1.2, 'peers')),
    'throughput_scaling': ('Throughput, 2 workers / 1 worker', 'ratio', ('>=', 1.7, 'absolute')),
    'queries_trivial': ('Database queries, one trivial API run (web + worker)', 'queries', ('<=', 1.0, 'builtin')),
    'rss_log100k': ('Worker peak RSS growth, LogMany 100,000 lines', 'MiB', ('<=', 1.0, 'builtin')),
}
HIGHER_IS_BETTER = {'throughput_1w', 'throughput_scaling'}
# NB_BENCH_ONLY=throughput (the older spelling) is both throughput rows.
ONLY_ALIASES = {'throughput': ('throughput_1w', 'throughput_scaling')}


def selected_keys():
    raw = [item.strip() for item in os.environ.get('NB_BENCH_ONLY', '').split(',') if item.strip()]
    keys = []
    for item in raw:
        keys.extend(ONLY_ALIASES.get(item, (item,)))
    unknown = [key for key in keys if key not in ROWS]
    if unknown:
        sys.exit(f'NB_BENCH_ONLY: unknown key(s) {", ".join(unknown)}; known: {", ".join(ROWS)}')
    return [key for key in ROWS if key in keys] if keys else list(ROWS)


ONLY = selected_keys() if os.environ.get('NB_BENCH_ONLY') else None
KEYS = ONLY or list(ROWS)

WORKLOAD = """\
from ipam.models import IPAddress
from extras.scripts import *

name = "Bench workloads"


class Trivial(Script):
    def run(self, data, commit):
        return "ok"


class CreateIPs(Script):
    count = IntegerVar(default=1000)
    offset = IntegerVar(default=0)

    def run(self, data, commit):
        base = 10 * 2 ** 24 + data["offset"] * 2 ** 16
        for i in range(data["count"]):
            value = base + i
            address = f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}/32"
            IPAddress(address=address, description="bench").save()
        self.log_success(f"created {data['count']} addresses")


class LogMany(Script):
    count = IntegerVar(default=10000)

    def run(self, data, commit):
        for i in range(data["count"]):
            self.log_info(f"log line {i}")


class Noop(Script):
    def run(self, data, commit):
        pass
"""

LIST_MODULE = """\
from extras.scripts import *

{classes}
"""
LIST_MODULES = [f'bench_list_{index:02d}.py' for index in range(51)]


def say(message):
    print(f'==> {message}', flush=True)


def median(values):
    return statistics.median(values) if values else None


#
# The instance
#

def write_workloads():
    shutil.rmtree(SCRIPTS, ignore_errors=True)
    os.makedirs(SCRIPTS)
    with open(os.path.join(SCRIPTS, 'bench_basic.py'), 'w') as f:
        f.write(WORKLOAD)
    # 51 more modules: 50 of 4 scripts and 1 of 1, for 205 scripts in 52 modules with bench_basic's 4.
    for index, filename in enumerate(LIST_MODULES):
        count = 4 if index < 50 else 1
        classes = '\n\n'.join(
            f'class Listed{index}x{n}(Script):\n    text = StringVar(required=False)\n'
            f'    number = IntegerVar(required=False)\n\n    def run(self, data, commit):\n        pass\n'
            for n in range(count)
        )
        with open(os.path.join(SCRIPTS, filename), 'w') as f:
            f.write(LIST_MODULE.format(classes=classes))
    # netbox-scripts reads the list modules from a local Data Source: the same files, copied unchanged.
    shutil.rmtree(NSX_SOURCE, ignore_errors=True)
    os.makedirs(os.path.join(NSX_SOURCE, 'list'))
    for filename in LIST_MODULES:
        shutil.copyfile(os.path.join(SCRIPTS, filename), os.path.join(NSX_SOURCE, 'list', filename))


def register_builtin_and_plugin():
    """Register the modules with NetBox and with the plugin; an admin user and token for the API."""
    from extras.models import ScriptModule
    from users.models import Token, User

    from netbox_custom_scripts.execution import sync_directory

    user = User.objects.create_user('bench', password='bench-password-1', is_superuser=True)
    token = Token(user=user, description='bench')
    token.full_clean()
    token.save()
    for filename in sorted(os.listdir(SCRIPTS)):
        if filename.endswith('.py'):
            ScriptModule(file_root='scripts', file_path=filename).save()
    result = sync_directory(force=True)
    assert not result.errors, result.errors
    return token.get_auth_header_prefix() + token.token


def register_netbox_scripts(client):
    """
    netbox-scripts' own way, over its REST API: an upload project (activation_policy=automatic_if_valid) for
    bench_basic.py, and a project on a local Data Source for the 51 list modules. Both are validated and activated
    by its jobs in the worker; wait until its Script rows exist.
    """
    from netbox_scripts.models import NetBoxScript, ScriptProject

    api = client.api
    projects = f'{BASE}/api/plugins/netbox-scripts/projects/'
    response = api.post(projects, json={'name': 'bench', 'key': 'bench', 'activation_policy': 'automatic_if_valid'})
    response.raise_for_status()
    bench = response.json()['id']
    with open(os.path.join(SCRIPTS, 'bench_basic.py'), 'rb') as f:
        response = api.post(f'{projects}{bench}/upload/', files={'file': ('bench_basic.py', f, 'text/x-python')})
    response.raise_for_status()

    response = api.post(f'{BASE}/api/core/data-sources/', json={
        'name': 'bench-list', 'type': 'local', 'source_url': f'file://{NSX_SOURCE}'})
    response.raise_for_status()
    source = response.json()['id']
    sync_data_source(api, source)   # a project's script files can be chosen only among synced files
    response = api.post(projects, json={
        'name': 'bench-list', 'key': 'bench-list', 'source_type': 'data_source', 'data_source': source,
        'data_path': 'list', 'activation_policy': 'automatic_if_valid'})
    response.raise_for_status()
    listing = response.json()['id']
    response = api.put(f'{projects}{listing}/script-files/', json={'paths': LIST_MODULES})
    response.raise_for_status()
    # It reconciles a project on core's post_sync only: a project created after the first sync needs another.
    sync_data_source(api, source)

    expected = {'bench': 4, 'bench-list': 201}
    deadline = time.monotonic() + 300
    resynced = False
    while True:
        counts = {key: NetBoxScript.objects.filter(project__key=key, is_retired=False).count() for key in expected}
        if counts == expected:
            break
        if not resynced and time.monotonic() > deadline - 240 and not counts['bench-list']:
            resynced = True
            sync_data_source(api, source)
        if time.monotonic() > deadline:
            states = list(ScriptProject.objects.values_list('key', 'active_revision__status'))
            raise RuntimeError(f'netbox-scripts did not activate the workloads: {counts} ({states})')
        time.sleep(0.5)
    say(f'netbox-scripts: {sum(expected.values())} scripts active in projects bench and bench-list')


def sync_data_source(api, source):
    response = api.post(f'{BASE}/api/core/data-sources/{source}/sync/')
    response.raise_for_status()
    deadline = time.monotonic() + 120
    while True:
        status = api.get(f'{BASE}/api/core/data-sources/{source}/').json()['status']['value']
        if status == 'completed':
            wait_idle()   # and what the sync enqueued (netbox-scripts' reconciliation, validation, activation)
            return
        if status == 'failed' or time.monotonic() > deadline:
            raise RuntimeError(f'Data Source sync ended {status}; see {RUN_DIR}/worker0.log')
        time.sleep(0.2)


class Processes:
    def __init__(self):
        self.procs = {}
        os.makedirs(RUN_DIR, exist_ok=True)

    def start(self, name, *args):
        log = open(os.path.join(RUN_DIR, f'{name}.log'), 'ab')
        self.procs[name] = subprocess.Popen([NETBOX, *args], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)

    def stop(self, name):
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def workers(self, count):
        """Exactly `count` RQ workers (0: none; their registrations gone)."""
        import django_rq
        from rq import Worker

        for name in [n for n in self.procs if n.startswith('worker')]:
            self.stop(name)
        for index in range(count):
            self.start(f'worker{index}', 'rqworker', '--skip-checks', *QUEUES)
        connection = django_rq.get_connection('default')
        deadline = time.monotonic() + 90
        while len(Worker.all(connection=connection)) != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f'RQ workers: {len(Worker.all(connection=connection))} registered, not {count}')
            time.sleep(0.2)


def wait_idle(timeout=600):
    """Wait until the queues are empty and every worker is idle (e.g. NetBox's search-cache jobs are done)."""
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection('default')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = any(w.get_state() == 'busy' for w in Worker.all(connection=connection))
        queued = any(django_rq.get_queue(q).count for q in QUEUES)
        if not busy and not queued:
            return
        time.sleep(0.1)


#
# Running one workload through each system's own entry point
#

TERMINAL_JOB = ('completed', 'failed', 'errored')
TERMINAL_RUN = ('completed', 'failed', 'aborted', 'errored', 'timed_out', 'cancelled')


class Client:
    def __init__(self, token):
        self.api = requests.Session()
        self.api.headers.update({'Authorization': token, 'Accept': 'application/json'})
        self.ui = requests.Session()
        page = self.ui.get(f'{BASE}/login/')
        csrf = self.ui.cookies['csrftoken']
        self.ui.post(f'{BASE}/login/', data={'username': 'bench', 'password': 'bench-password-1',
                                             'csrfmiddlewaretoken': csrf}, headers={'Referer': page.url})
        self._nsx_ids = {}
        self._checked = set()

    def nsx_script(self, name):
        """netbox-scripts' Script row id for bench_basic.<name>."""
        if name not in self._nsx_ids:
            from netbox_scripts.models import NetBoxScript

            self._nsx_ids[name] = NetBoxScript.objects.get(
                project__key='bench', module_path='bench_basic', class_name=name, is_retired=False).pk
        return self._nsx_ids[name]

    def run(self, system, script, data, commit=False):
        """API POST to the system's run endpoint, then poll until the run ends. Returns (client seconds, id)."""
        start = time.perf_counter()
        if system == 'builtin':
            response = self.api.post(f'{BASE}/api/extras/scripts/bench_basic.{script}/',
                                     json={'data': data, 'commit': commit})
            response.raise_for_status()
            pk = response.json()['result']['id']
            url = f'{BASE}/api/core/jobs/{pk}/?brief=1'
        elif system == 'netbox_scripts':
            response = self.api.post(f'{BASE}/api/plugins/netbox-scripts/scripts/{self.nsx_script(script)}/run/',
                                     json={'data': data, 'commit': commit})
            response.raise_for_status()
            pk = response.json()['id']
            url = f'{BASE}/api/core/jobs/{pk}/?brief=1'
        else:
            response = self.api.post(f'{BASE}/api/plugins/custom-scripts/scripts/bench_basic.{script}/run/',
                                     json={'data': data, 'commit': commit})
            response.raise_for_status()
            pk = response.json()['id']
            url = f'{BASE}/api/plugins/custom-scripts/runs/{pk}/?brief=1'
        terminal = TERMINAL_RUN if system == 'plugin' else TERMINAL_JOB
        while True:
            if self.api.get(url).json()['status']['value'] in terminal:
                return time.perf_counter() - start, pk
            time.sleep(0.02)

    def timed_get(self, session, url, htmx=False, lines=0):
        """
        One GET, timed. A redirect (to the login page, say) is an error; `lines`: the response must show at least
        that many of LogMany's lines (checked once per URL, outside the timing).
        """
        headers = {'HX-Request': 'true'} if htmx else {}
        start = time.perf_counter()
        response = session.get(f'{BASE}{url}', headers=headers, allow_redirects=False)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        if response.is_redirect:   # (the built-in's HTMX partial of a finished run answers 286: stop polling)
            raise RuntimeError(f'GET {url}: {response.status_code} {response.headers.get("Location", "")}')
        if lines and url not in self._checked:
            shown = response.text.count('log line ')
            if shown < lines:
                raise RuntimeError(f'GET {url} shows {shown} log lines, not {lines} or more')
            self._checked.add(url)
        return elapsed

    def result_page(self, system, pk, lines=25):
        """The run's result page as a browser loads it, with its first log page (seconds)."""
        if system == 'builtin':   # the page, then its two HTMX partials
            page = f'/extras/scripts/results/{pk}/'
            return (self.timed_get(self.ui, page) + self.timed_get(self.ui, page, htmx=True)
                    + self.timed_get(self.ui, f'{page}?embedded=True&log=True&log_threshold=info', htmx=True,
                                     lines=lines))
        if system == 'netbox_scripts':   # one server-rendered page (a finished run does not poll)
            return self.timed_get(self.ui, f'/plugins/netbox-scripts/scripts/{self.nsx_script("LogMany")}'
                                           f'/results/{pk}/', lines=lines)
        page = f'/plugins/custom-scripts/runs/{pk}/'   # the page, then its log partial
        return self.timed_get(self.ui, page) + self.timed_get(self.ui, f'{page}log/', htmx=True, lines=lines)

    def log_page(self, system, pk, per_page=1000):
        """One log page of `per_page` lines, as the page's own HTMX request fetches it (seconds)."""
        if system == 'builtin':
            return self.timed_get(self.ui, f'/extras/scripts/results/{pk}/?embedded=True&log=True&'
                                           f'log_threshold=info&per_page={per_page}', htmx=True, lines=per_page)
        if system == 'netbox_scripts':   # its HTMX request returns the result body (run card + log table)
            return self.timed_get(self.ui, f'/plugins/netbox-scripts/scripts/{self.nsx_script("LogMany")}'
                                           f'/results/{pk}/?log_threshold=info&per_page={per_page}', htmx=True,
                                  lines=per_page)
        return self.timed_get(self.ui, f'/plugins/custom-scripts/runs/{pk}/log/?per_page={per_page}', htmx=True,
                              lines=per_page)


def run_time(system, pk):
    """Run time from the record's own timestamps (started to completed)."""
    if system == 'plugin':
        from netbox_custom_scripts.models import ScriptRun

        record = ScriptRun.objects.get(pk=pk)
        assert record.status in ('completed', 'failed'), (record.status, record.error)
    else:
        from core.models import Job

        record = Job.objects.get(pk=pk)
        assert record.status == 'completed', (system, record.status, record.error)
    return (record.completed - record.started).total_seconds()


def cli_command(system):
    if system == 'builtin':
        return [NETBOX, 'runscript', 'bench_basic.Trivial', '--user', 'bench']
    if system == 'netbox_scripts':
        return [NETBOX, 'runcustomscript', 'bench:bench_basic.Trivial', '--user', 'bench']
    return [NETBOX, 'custom_scripts', 'run', 'bench_basic.Trivial', '--user', 'bench']


#
# Workloads
#

class Bench:
    def __init__(self, client, processes):
        self.client = client
        self.processes = processes
        self.rows = []
        self.offset = 0
        self.log10k = None    # {system: pk of its last 10,000-line run}
        self.log100k = None   # the plugin's last 100,000-line run

    def row(self, key, values, **extra):
        """values: {system: [raw measurements]}; the row holds their medians."""
        workload, unit, _target = ROWS[key]
        row = {'key': key, 'workload': workload, 'unit': unit}
        for system in SYSTEMS:
            row[system] = median(values.get(system) or [])
        for system in SYSTEMS:
            if values.get(system):
                row[f'{system}_runs'] = values[system]
        row.update(extra)
        self.rows.append(row)
        say(f'{key}: ' + ', '.join(f'{LABELS[s]} {fmt(row[s], unit)}' for s in SYSTEMS))

    def interleaved(self, reps, measure, idle=True):
        values = {system: [] for system in SYSTEMS}
        for _ in range(reps):
            for system in SYSTEMS:
                if idle:
                    wait_idle()
                values[system].append(measure(system))
        return values

    def trivial_api(self):
        values = self.interleaved(REPS + 1, lambda s: self.client.run(s, 'Trivial', {})[0])
        self.row('trivial_api', {s: v[1:] for s, v in values.items()},  # the first round warms up and is dropped
                 note='API POST to the run endpoint, then the job / run polled every 20 ms')

    def cli(self):
        def once(system):
            start = time.perf_counter()
            subprocess.run(cli_command(system), cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return time.perf_counter() - start
        self.row('cli', self.interleaved(SLOW_REPS, once, idle=False),
                 note='`netbox runscript` / `netbox runcustomscript` / `netbox custom_scripts run`, dry run')

    def ips(self, key, commit):
        def once(system):
            self.offset += 1
            return run_time(system, self.client.run(
                system, 'CreateIPs', {'count': 1000, 'offset': self.offset}, commit)[1])
        self.row(key, self.interleaved(SLOW_REPS, once))

    def log_run(self, key, count):
        # Until the client sees the run completed, log included: the built-in (and netbox-scripts) stamp a job's
        # `completed` before the save that writes its whole log as one JSON value, so their records' own times
        # leave out what their log costs. Those record times are kept in the note.
        last, records = {}, {system: [] for system in SYSTEMS}

        def once(system):
            elapsed, last[system] = self.client.run(system, 'LogMany', {'count': count})
            records[system].append(run_time(system, last[system]))
            return elapsed
        self.row(key, self.interleaved(SLOW_REPS, once),
                 note='API POST to completed as the client sees it; record times (started to completed), medians: '
                      + ', '.join(f'{LABELS[s]} {median(records[s]):.3f} s' for s in SYSTEMS))
        return last

    def ensure_log10k(self):
        if self.log10k is None:   # a 10,000-line run of each system for the page rows, when log10k_run did not run
            self.log10k = {}
            for system in SYSTEMS:
                wait_idle()
                self.log10k[system] = self.client.run(system, 'LogMany', {'count': 10000})[1]

    def log_first_page(self):
        self.ensure_log10k()
        self.row('log_first_page', self.interleaved(REPS, lambda s: self.client.result_page(s, self.log10k[s]),
                                                    idle=False),
                 note='built-in: page + 2 HTMX partials; netbox-scripts: one server-rendered page; '
                      'plugin: page + log partial')

    def log_1000_page(self):
        self.ensure_log10k()
        self.row('log_1000_page', self.interleaved(REPS, lambda s: self.client.log_page(s, self.log10k[s]),
                                                   idle=False),
                 note='per_page=1000, as an HTMX request (netbox-scripts: its result body with the log table)')

    def log_100k_vs_10(self):
        if self.log100k is None:
            wait_idle()
            self.log100k = self.client.run('plugin', 'LogMany', {'count': 100000})[1]
        wait_idle()
        small = self.client.run('plugin', 'LogMany', {'count': 10})[1]
        small_times, big_times = [], []
        for _ in range(REPS):
            small_times.append(self.client.result_page('plugin', small, lines=10))
            big_times.append(self.client.result_page('plugin', self.log100k))
        ratio = median(big_times) / median(small_times)
        self.rows.append({'key': 'log_100k_vs_10', 'workload': ROWS['log_100k_vs_10'][0], 'unit': 'ratio',
                          'builtin': None, 'netbox_scripts': None, 'plugin': ratio,
                          'plugin_10_lines_runs': small_times, 'plugin_100k_lines_runs': big_times,
                          'note': f'page + log partial: {median(big_times):.3f} s (100,000 lines) / '
                                  f'{median(small_times):.3f} s (10 lines)'})
        say(f'log_100k_vs_10: plugin {ratio:.2f}')

    def lists(self, keys):
        ui = {'builtin': '/extras/scripts/', 'netbox_scripts': '/plugins/netbox-scripts/scripts/?per_page=1000',
              'plugin': '/plugins/custom-scripts/scripts/?per_page=1000'}
        api = {'builtin': '/api/extras/scripts/?limit=1000',
               'netbox_scripts': '/api/plugins/netbox-scripts/scripts/?limit=1000',
               'plugin': '/api/plugins/custom-scripts/scripts/?limit=1000'}
        if 'list_ui' in keys:
            values = self.interleaved(REPS + 1, lambda s: self.client.timed_get(self.client.ui, ui[s]), idle=False)
            self.row('list_ui', {s: v[1:] for s, v in values.items()},
                     note='built-in: its scripts page (all rows, no pagination); the plugins: ?per_page=1000')
        if 'list_api' in keys:
            values = self.interleaved(REPS + 1, lambda s: self.client.timed_get(self.client.api, api[s]), idle=False)
            self.row('list_api', {s: v[1:] for s, v in values.items()})

    def throughput(self, keys):
        """100 Noop runs queued at once with 1 and 2 workers: runs/s, and each system's 2-worker / 1-worker."""
        rates = {}
        for workers in (1, 2):
            self.processes.workers(workers)
            for system in SYSTEMS:
                runs = []
                for _ in range(THROUGHPUT_REPS):
                    wait_idle()
                    runs.append(THROUGHPUT[system](100))
                rates[(system, workers)] = runs
            say(f'{workers} worker(s): ' + ', '.join(
                f'{LABELS[s]} {median(rates[(s, workers)]):.1f} runs/s' for s in SYSTEMS))
        if 'throughput_1w' in keys:
            self.row('throughput_1w', {s: rates[(s, 1)] for s in SYSTEMS},
                     note=f'median of {THROUGHPUT_REPS}; enqueued in one transaction, until all have completed')
        if 'throughput_scaling' in keys:
            self.row('throughput_scaling',
                     {s: [median(rates[(s, 2)]) / median(rates[(s, 1)])] for s in SYSTEMS},
                     note='runs/s 1 -> 2 workers: ' + ', '.join(
                         f'{LABELS[s]} {median(rates[(s, 1)]):.1f} -> {median(rates[(s, 2)]):.1f}'
                         for s in SYSTEMS),
                     **{f'{s}_runs_per_s_2w': rates[(s, 2)] for s in SYSTEMS})
        self.processes.workers(1)

    def queries_trivial(self):
        """Workers stopped; one trivial API run in this process (Django test client + SimpleWorker), counted."""
        wait_idle()
        self.processes.workers(0)
        counts = {}
        for system in SYSTEMS:
            count_queries(system, self.client)          # warms this process up (imports, caches)
            counts[system] = count_queries(system, self.client)
        self.row('queries_trivial', {s: [counts[s]['total']] for s in SYSTEMS},
                 note='in-process: Django test client POST + rq SimpleWorker burst, every connection counted; '
                      'web/worker: ' + ', '.join(f'{LABELS[s]} {counts[s]["web"]}/{counts[s]["worker"]}'
                                                 for s in SYSTEMS),
                 **{f'{s}_web_worker': [counts[s]['web'], counts[s]['worker']] for s in SYSTEMS})
        self.processes.workers(1)

    def rss_log100k(self):
        """Workers stopped; a fresh process works a 10-line run (warm-up) then a 100,000-line run, in burst mode."""
        wait_idle()
        self.processes.workers(0)
        values = {}
        for system in SYSTEMS:
            values[system] = [rss_growth(system)]
        self.row('rss_log100k', values,
                 note='fresh `django.setup()` process, rq SimpleWorker (no fork): peak RSS (VmHWM, reset after a '
                      '10-line warm-up run) during the 100,000-line run minus VmRSS before it')
        self.processes.workers(1)

    def measure(self):
        keys = set(KEYS)
        self.processes.workers(1)
        wait_idle()
        if 'trivial_api' in keys:
            self.trivial_api()
        if 'cli' in keys:
            self.cli()
        if 'ips_commit' in keys:
            self.ips('ips_commit', True)
        if 'ips_dry' in keys:
            self.ips('ips_dry', False)
        if 'log10k_run' in keys:
            self.log10k = self.log_run('log10k_run', 10000)
        if 'log100k_run' in keys:
            self.log100k = self.log_run('log100k_run', 100000)['plugin']
        if 'log_first_page' in keys:
            self.log_first_page()
        if 'log_1000_page' in keys:
            self.log_1000_page()
        if 'log_100k_vs_10' in keys:
            self.log_100k_vs_10()
        if keys & {'list_ui', 'list_api'}:
            self.lists(keys)
        if keys & {'throughput_1w', 'throughput_scaling'}:
            self.throughput(keys)
        if 'queries_trivial' in keys:
            self.queries_trivial()
        if 'rss_log100k' in keys:
            self.rss_log100k()
        order = list(ROWS)
        return sorted(self.rows, key=lambda row: order.index(row['key']))


def bench_user():
    from users.models import User

    return User.objects.get(username='bench')


def builtin_enqueue(data, user):
    from extras.jobs import ScriptJob
    from extras.models import Script

    script = Script.objects.get(module__file_path='bench_basic.py', name=data.pop('_script'))
    return ScriptJob.enqueue(instance=script, user=user, data=data, commit=False).pk


def nsx_enqueue(data, user):
    from netbox_scripts.jobs import NetBoxScriptJob
    from netbox_scripts.models import NetBoxScript

    script = NetBoxScript.objects.select_related('project__active_revision').get(
        project__key='bench', module_path='bench_basic', class_name=data.pop('_script'))
    return NetBoxScriptJob.enqueue_run(script, data=data, commit=False, user=user).pk


def plugin_enqueue(data, user):
    from netbox_custom_scripts.execution import submit_run
    from netbox_custom_scripts.models import Script

    script = Script.objects.get(module__name='bench_basic', class_name=data.pop('_script'))
    return submit_run(script, user=user, commit=False, source='api', data=data).pk


ENQUEUE = {'builtin': builtin_enqueue, 'netbox_scripts': nsx_enqueue, 'plugin': plugin_enqueue}


def throughput_of(system):
    def rate(count):
        from django.db import transaction

        user = bench_user()
        if system == 'plugin':
            from netbox_custom_scripts.models import ScriptRun as Record
        else:
            from core.models import Job as Record
        with transaction.atomic():  # every job reaches RQ when this commits
            ids = [ENQUEUE[system]({'_script': 'Noop'}, user) for _ in range(count)]
        start = time.perf_counter()
        while Record.objects.filter(pk__in=ids, completed__isnull=True).exists():
            time.sleep(0.05)
        return count / (time.perf_counter() - start)
    return rate


THROUGHPUT = {system: throughput_of(system) for system in SYSTEMS}


def count_queries(system, client):
    """
    Every database query of one trivial API run, web and worker together: the run endpoint POSTed through the
    Django test client (the whole middleware stack, real database), then the queued RQ jobs executed in this
    process by rq's SimpleWorker in burst mode (no fork), until the queues are empty. An execute wrapper on every
    connection - the open ones and each new one (connection_created), so other threads count too.
    """
    import django_rq
    from django.db import connections
    from django.db.backends.signals import connection_created
    from django.test import Client as DjangoClient
    from rq import SimpleWorker, Worker

    counter = {'n': 0}

    def wrapper(execute, sql, params, many, context):
        counter['n'] += 1
        return execute(sql, params, many, context)

    def watch(connection):
        if wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(wrapper)

    def on_created(sender, connection, **kwargs):
        watch(connection)

    if system == 'builtin':
        url, kind = '/api/extras/scripts/bench_basic.Trivial/', 'job'
    elif system == 'netbox_scripts':
        url, kind = f'/api/plugins/netbox-scripts/scripts/{client.nsx_script("Trivial")}/run/', 'job'
    else:
        url, kind = '/api/plugins/custom-scripts/scripts/bench_basic.Trivial/run/', 'run'
    connection = django_rq.get_connection('default')
    # The run endpoints refuse to queue without a live worker for the queue: a registration that never works.
    placeholder = Worker([django_rq.get_queue(q) for q in QUEUES], connection=connection,
                         name=f'bench-placeholder-{os.getpid()}')
    placeholder.register_birth()
    test_client = DjangoClient(HTTP_AUTHORIZATION=client.api.headers['Authorization'], HTTP_ACCEPT='application/json')
    connection_created.connect(on_created)
    for conn in connections.all():
        watch(conn)
    try:
        response = test_client.post(url, data={'data': {}, 'commit': False}, content_type='application/json')
        assert response.status_code in (200, 201), (system, response.status_code, response.content[:500])
        web = counter['n']
        worker = SimpleWorker([django_rq.get_queue(q) for q in QUEUES], connection=connection,
                              name=f'bench-queries-{os.getpid()}-{time.monotonic_ns()}')
        worker.work(burst=True, logging_level='WARNING')
        total = counter['n']
    finally:
        connection_created.disconnect(on_created)
        for conn in connections.all():
            if wrapper in conn.execute_wrappers:
                conn.execute_wrappers.remove(wrapper)
        placeholder.register_death()
    body = response.json()
    pk = body['id'] if kind == 'run' or system == 'netbox_scripts' else body['result']['id']
    run_time(system, pk)   # asserts it completed
    return {'total': total, 'web': web, 'worker': total - web}


RSS_PROBE = r"""
import json, os
import django
django.setup()
import django_rq
from rq import SimpleWorker

def status_kib(field):
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))

queues = [django_rq.get_queue(q) for q in ('high', 'default', 'low')]
connection = django_rq.get_connection('default')
queued = [job_id for queue in queues for job_id in queue.get_job_ids()]
name = f'bench-rss-{os.getpid()}'
SimpleWorker(queues, connection=connection, name=name + '-warm').work(burst=True, max_jobs=1, logging_level='WARNING')
before = status_kib('VmRSS')
# The peak (VmHWM) starts again from the current RSS. Not ru_maxrss: Linux carries the pre-exec peak into it, and
# a vfork-ed child's is the parent's - the bench process's own peak.
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
SimpleWorker(queues, connection=connection, name=name).work(burst=True, logging_level='WARNING')
print(json.dumps({'queued': queued, 'before_kib': before, 'peak_kib': status_kib('VmHWM')}))
"""


def rss_growth(system):
    """Enqueue a 10-line and a 100,000-line LogMany run (workers stopped), work them in a fresh process."""
    from django.db import transaction

    user = bench_user()
    with transaction.atomic():
        small = ENQUEUE[system]({'_script': 'LogMany', 'count': 10}, user)
        big = ENQUEUE[system]({'_script': 'LogMany', 'count': 100000}, user)
    expected = [rq_job_id(system, small), rq_job_id(system, big)]
    out = subprocess.run([sys.executable, '-c', RSS_PROBE], cwd=REPO, check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # Only these two, in this order: the first warms the process up, the second is measured.
    assert result['queued'] == expected, (system, result['queued'], expected)
    run_time(system, big)   # asserts it completed
    return (result['peak_kib'] - result['before_kib']) / 1024


def rq_job_id(system, pk):
    from core.models import Job

    if system == 'plugin':
        from netbox_custom_scripts.models import ScriptRun

        return str(ScriptRun.objects.get(pk=pk).job.job_id)
    return str(Job.objects.get(pk=pk).job_id)


#
# Report
#

def fmt(value, unit):
    if value is None:
        return '-'
    if unit == 'queries':
        return f'{value:.0f}'
    if unit in ('ratio', 'runs/s'):
        return f'{value:.2f}'
    if unit == 'MiB':
        return f'{value:.1f}'
    return f'{value:.3f}'


def ratios(row):
    plugin = row['plugin']

    def ratio(peer):
        value = row[peer]
        return plugin / value if plugin is not None and value else None
    return ratio('builtin'), ratio('netbox_scripts')


def verdict(row):
    """(target text, met) for a row."""
    comparison, value, against = ROWS[row['key']][2]
    ok = (lambda x: x <= value) if comparison == '<=' else (lambda x: x >= value)
    vs_builtin, vs_nsx = ratios(row)
    if against == 'absolute':
        measured = [row['plugin']]
        text = f'{comparison} {value} (plugin)'
    elif against == 'builtin':
        measured = [vs_builtin]
        text = f'{comparison} {value} vs built-in'
    else:
        measured = [vs_builtin, vs_nsx]
        text = f'{comparison} {value} vs each'
    if any(m is None for m in measured):
        return text, None
    return text, all(ok(m) for m in measured)


def machine():
    cpu = platform.processor() or ''
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu})'


def load():
    return [round(value, 2) for value in os.getloadavg()]


def table(rows):
    lines = [
        '| Key | Workload | Unit | Built-in | netbox-scripts | Plugin | Plugin / built-in | Plugin / netbox-scripts '
        '| Target | Met |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        vs_builtin, vs_nsx = ratios(row)
        target, met = verdict(row)
        unit = row['unit'] + (', higher is better' if row['key'] in HIGHER_IS_BETTER else '')
        lines.append(
            f'| `{row["key"]}` | {row["workload"]} | {unit} | {fmt(row["builtin"], row["unit"])} | '
            f'{fmt(row["netbox_scripts"], row["unit"])} | {fmt(row["plugin"], row["unit"])} | '
            f'{fmt(vs_builtin, "ratio")} | {fmt(vs_nsx, "ratio")} | {target} | '
            f'{"-" if met is None else "yes" if met else "NO"} |')
    return lines


def report(rows, started, load_start, load_end):
    lines = [
        '# Bench: built-in custom scripts, netbox-scripts and netbox-custom-scripts',
        '',
        f'Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; load average {", ".join(map(str, load_start))} at the '
        f'start, {", ".join(map(str, load_end))} at the end. NetBox 4.7.3, netbox-scripts {NSX_VERSION or "?"}, '
        f'Python {platform.python_version()}, `netbox runserver` and `netbox rqworker` on 127.0.0.1, both plugins '
        f'installed in the same instance; medians of {REPS} (fast) or {SLOW_REPS} (slow) repetitions, the three '
        f'systems interleaved{" (NB_BENCH_QUICK=1)" if QUICK else ""}.',
        '',
        'Ratios are plugin / peer. For s, queries, MiB and the page ratio lower is better; for runs/s and the '
        'scaling ratio higher is better.',
        '',
        *table(rows),
    ]
    notes = [f'- `{row["key"]}`: {row["note"]}' for row in rows if row.get('note')]
    if notes:
        lines += ['', 'Notes:', *notes]
    raw = [{k: v for k, v in row.items() if k not in ('workload', 'unit', 'note') and k not in SYSTEMS}
           for row in rows]
    lines += ['', '<details><summary>Raw measurements</summary>', '', '```json', json.dumps(raw, indent=1), '```',
              '', '</details>', '']
    return '\n'.join(lines)


def got_slower(rows, previous_path):
    """Keys whose plugin value is more than 10 % worse than in the previous JSON result."""
    if not os.path.exists(previous_path):
        return None
    with open(previous_path) as f:
        previous = {row['key']: row for row in json.load(f).get('rows', [])}
    slower = []
    for row in rows:
        before, now = (previous.get(row['key']) or {}).get('plugin'), row['plugin']
        if before is None or now is None or before == 0:
            continue
        worse = now < before * 0.9 if row['key'] in HIGHER_IS_BETTER else now > before * 1.1
        if worse:
            slower.append(f'{row["key"]}: {fmt(before, row["unit"])} -> {fmt(now, row["unit"])} {row["unit"]} '
                          f'({(now / before - 1) * 100:+.0f} %)')
    return slower


def main():
    import django

    started = datetime.datetime.now(datetime.UTC)
    load_start = load()
    say('Writing the workload modules')
    write_workloads()
    django.setup()
    say('Registering them with NetBox and with the plugin')
    token = register_builtin_and_plugin()
    processes = Processes()
    try:
        processes.start('web', 'runserver', f'127.0.0.1:{PORT}', '--insecure', '--noreload', '--skip-checks')
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f'{BASE}/login/', timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f'The web server did not start; see {RUN_DIR}/web.log')
                time.sleep(0.5)
        client = Client(token)
        processes.workers(1)
        say('Registering them with netbox-scripts (upload project, Data Source project)')
        register_netbox_scripts(client)
        rows = Bench(client, processes).measure()
    finally:
        processes.stop_all()
    load_end = load()
    text = report(rows, started, load_start, load_end)
    print()
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    name = 'partial' if ONLY else 'latest'
    compare_with = os.path.join(RESULTS, 'latest.json' if ONLY else 'previous.json')
    if not ONLY:
        for ext in ('md', 'json'):
            latest = os.path.join(RESULTS, f'latest.{ext}')
            if os.path.exists(latest):
                os.replace(latest, os.path.join(RESULTS, f'previous.{ext}'))
    with open(os.path.join(RESULTS, f'{name}.md'), 'w') as f:
        f.write(text)
    document = {'machine': machine(), 'load': load_start, 'load_end': load_end,
                'started': started.strftime('%Y-%m-%dT%H:%M:%SZ'), 'quick': QUICK, 'netbox_scripts': NSX_VERSION,
                'rows': rows}
    with open(os.path.join(RESULTS, f'{name}.json'), 'w') as f:
        json.dump(document, f, indent=1)
        f.write('\n')
    say(f'Written to bench/results/{name}.md and {name}.json'
        + ('' if ONLY else ' (the previous result is in previous.md / previous.json)'))
    slower = got_slower(rows, compare_with)
    label = os.path.basename(compare_with)
    if slower is None:
        say(f'What got slower: no {label} to compare with')
    elif slower:
        say(f'What got slower (plugin, more than 10 % worse than {label}):')
        for line in slower:
            print(f'    {line}')
    else:
        say(f'What got slower: nothing (plugin, more than 10 % worse than {label})')


if __name__ == '__main__':
    main()
