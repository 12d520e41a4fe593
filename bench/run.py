"""
Side-by-side timings: netbox-custom-scripts against NetBox's built-in custom scripts, in one run, on one instance.

Started by `make bench` (python3 develop/devctl.py bench), which prepares the environment this module expects:
a database of its own (cloned fresh from the migrated template), Redis databases of their own, and an instance
directory whose SCRIPTS_ROOT holds the workload modules. The same module files - written for NetBox's built-in
scripts (`from extras.scripts import *`) - are registered with both systems and run through the same entry point.

Each measurement is a median of several repetitions, the two systems interleaved; results are reported as ratios
(plugin / built-in) and written to bench/results/latest.md (the previous run moves to previous.md).
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
RUN_DIR = os.path.join(INSTANCE, 'run')
RESULTS = os.path.join(REPO, 'bench', 'results')
PORT = int(os.environ.get('NB_BENCH_PORT', '8002'))
BASE = f'http://127.0.0.1:{PORT}'
NETBOX = os.path.join(os.path.dirname(sys.executable), 'netbox')
QUICK = os.environ.get('NB_BENCH_QUICK') == '1'   # fewer repetitions, for a smoke test of the bench itself
REPS = 2 if QUICK else 5
SLOW_REPS = 1 if QUICK else 3
THROUGHPUT_REPS = 1 if QUICK else 3
# NB_BENCH_ONLY=throughput: only that workload, written to results/throughput.md (latest.md is left alone).
ONLY = os.environ.get('NB_BENCH_ONLY', '')

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


def say(message):
    print(f'==> {message}', flush=True)


#
# The instance
#

def write_workloads():
    shutil.rmtree(SCRIPTS, ignore_errors=True)
    os.makedirs(SCRIPTS)
    with open(os.path.join(SCRIPTS, 'bench_basic.py'), 'w') as f:
        f.write(WORKLOAD)
    # 51 more modules: 50 of 4 scripts and 1 of 1, for 205 scripts in 52 modules with bench_basic's 4.
    for index in range(51):
        count = 4 if index < 50 else 1
        classes = '\n\n'.join(
            f'class Listed{index}x{n}(Script):\n    text = StringVar(required=False)\n'
            f'    number = IntegerVar(required=False)\n\n    def run(self, data, commit):\n        pass\n'
            for n in range(count)
        )
        with open(os.path.join(SCRIPTS, f'bench_list_{index:02d}.py'), 'w') as f:
            f.write(LIST_MODULE.format(classes=classes))


def register_everything():
    """Register the modules with both systems; an admin user and token for the API."""
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

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def workers(self, count):
        for name in [n for n in self.procs if n.startswith('worker')]:
            self.stop(name)
        for index in range(count):
            self.start(f'worker{index}', 'rqworker', '--skip-checks', 'high', 'default', 'low')
        import django_rq
        from rq import Worker

        deadline = time.monotonic() + 60
        while len(Worker.all(connection=django_rq.get_connection('default'))) < count:
            if time.monotonic() > deadline:
                raise RuntimeError('RQ workers did not start')
            time.sleep(0.2)


def wait_idle(timeout=600):
    """Wait until the queues are empty and every worker is idle (e.g. NetBox's search-cache jobs are done)."""
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection('default')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = any(w.get_state() == 'busy' for w in Worker.all(connection=connection))
        queued = any(django_rq.get_queue(q).count for q in ('high', 'default', 'low'))
        if not busy and not queued:
            return
        time.sleep(0.1)


#
# Running one workload through each system
#

class Client:
    def __init__(self, token):
        self.post_times = {'builtin': [], 'plugin': []}
        self.api = requests.Session()
        self.api.headers.update({'Authorization': token, 'Accept': 'application/json'})
        self.ui = requests.Session()
        page = self.ui.get(f'{BASE}/login/')
        csrf = self.ui.cookies['csrftoken']
        self.ui.post(f'{BASE}/login/', data={'username': 'bench', 'password': 'bench-password-1',
                                             'csrfmiddlewaretoken': csrf}, headers={'Referer': page.url})

    def run_builtin(self, script, data, commit):
        """API POST, then poll the core job. Returns (client seconds, job pk)."""
        start = time.perf_counter()
        response = self.api.post(f'{BASE}/api/extras/scripts/bench_basic.{script}/',
                                 json={'data': data, 'commit': commit})
        self.post_times['builtin'].append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        job_id = response.json()['result']['id']
        while True:
            status = self.api.get(f'{BASE}/api/core/jobs/{job_id}/?brief=1').json()['status']['value']
            if status in ('completed', 'failed', 'errored'):
                return time.perf_counter() - start, job_id
            time.sleep(0.02)

    def run_plugin(self, script, data, commit):
        start = time.perf_counter()
        response = self.api.post(f'{BASE}/api/plugins/custom-scripts/scripts/bench_basic.{script}/run/',
                                 json={'data': data, 'commit': commit})
        self.post_times['plugin'].append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        run_id = response.json()['id']
        while True:
            status = self.api.get(f'{BASE}/api/plugins/custom-scripts/runs/{run_id}/?brief=1').json()['status']
            if status['value'] in ('completed', 'failed', 'aborted', 'errored', 'timed_out', 'cancelled'):
                return time.perf_counter() - start, run_id
            time.sleep(0.02)

    def timed_get(self, session, url, htmx=False):
        headers = {'HX-Request': 'true'} if htmx else {}
        start = time.perf_counter()
        response = session.get(f'{BASE}{url}', headers=headers)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        return elapsed


def builtin_execution_time(job_id):
    from core.models import Job

    job = Job.objects.get(pk=job_id)
    assert job.status == 'completed', (job.status, job.error)
    return (job.completed - job.started).total_seconds()


def plugin_execution_time(run_id):
    from netbox_custom_scripts.models import ScriptRun

    run = ScriptRun.objects.get(pk=run_id)
    assert run.status in ('completed', 'failed'), (run.status, run.error)
    return (run.completed - run.started).total_seconds()


def trivial_phases(client, job_ids, run_ids):
    """
    Where a trivial run's time goes, from the records' own timestamps (medians, ms): the API POST's response time,
    queued (created to started), executing (started to completed), then until the client saw it finished.
    """
    from core.models import Job

    from netbox_custom_scripts.models import ScriptRun

    def ms(delta):
        return delta.total_seconds() * 1000

    builtin = [Job.objects.get(pk=pk) for pk in job_ids]
    plugin = [ScriptRun.objects.select_related('job').get(pk=pk) for pk in run_ids]
    phases = {
        'POST': (client.post_times['builtin'][-len(job_ids):], client.post_times['plugin'][-len(run_ids):]),
        'queued': ([ms(j.started - j.created) for j in builtin], [ms(r.started - r.created) for r in plugin]),
        'executing': ([ms(j.completed - j.started) for j in builtin], [ms(r.completed - r.started) for r in plugin]),
        'job finished after the run': ([0.0], [ms(r.job.completed - r.completed) for r in plugin if r.job]),
    }
    return 'phases, median ms built-in/plugin: ' + ', '.join(
        f'{name} {median(b):.0f}/{median(p):.0f}' for name, (b, p) in phases.items()
    )


def median(values):
    return statistics.median(values) if values else float('nan')


#
# Workloads
#

def measure(client, processes):
    rows = []

    def row(workload, builtin, plugin, target, note=''):
        rows.append({'workload': workload, 'builtin': median(builtin), 'plugin': median(plugin), 'target': target,
                     'builtin_runs': builtin, 'plugin_runs': plugin, 'note': note})
        ratio = median(plugin) / median(builtin)
        say(f'{workload}: built-in {median(builtin):.3f} s, plugin {median(plugin):.3f} s, ratio {ratio:.2f}')

    if ONLY == 'throughput':
        return [measure_throughput(processes)]
    processes.workers(1)
    wait_idle()

    # Trivial script over the API, one worker
    builtin, plugin, builtin_ids, plugin_ids = [], [], [], []
    for _ in range(REPS + 1):  # the first round warms both up and is dropped
        wait_idle()
        elapsed, job_id = client.run_builtin('Trivial', {}, False)
        builtin.append(elapsed)
        builtin_ids.append(job_id)
        wait_idle()
        elapsed, run_id = client.run_plugin('Trivial', {}, False)
        plugin.append(elapsed)
        plugin_ids.append(run_id)
    row('Trivial script, API POST to completed (1 worker)', builtin[1:], plugin[1:], 1.0,
        trivial_phases(client, builtin_ids[1:], plugin_ids[1:]))

    # Trivial script from the CLI, whole process
    builtin, plugin = [], []
    for _ in range(SLOW_REPS):
        start = time.perf_counter()
        subprocess.run([NETBOX, 'runscript', 'bench_basic.Trivial', '--user', 'bench'], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        builtin.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([NETBOX, 'custom_scripts', 'run', 'bench_basic.Trivial', '--user', 'bench'], cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plugin.append(time.perf_counter() - start)
    row('Trivial script from the CLI, whole process', builtin, plugin, 0.35)

    # 1000 IP addresses, commit on and dry run: execution time in the worker
    offset = 0
    for commit, target in ((True, 1.1), (False, 1.0)):
        builtin, plugin = [], []
        for _ in range(SLOW_REPS):
            offset += 1
            wait_idle()
            builtin.append(builtin_execution_time(
                client.run_builtin('CreateIPs', {'count': 1000, 'offset': offset}, commit)[1]))
            offset += 1
            wait_idle()
            plugin.append(plugin_execution_time(
                client.run_plugin('CreateIPs', {'count': 1000, 'offset': offset}, commit)[1]))
        label = 'commit on' if commit else 'dry run'
        row(f'Create 1000 IP addresses, {label}: run time', builtin, plugin, target,
            'plugin records every change (and the dry-run diff)')

    # 10,000 log lines: run time, then the run page as a browser loads it
    builtin, plugin, builtin_jobs, plugin_runs = [], [], [], []
    for _ in range(SLOW_REPS):
        wait_idle()
        job = client.run_builtin('LogMany', {'count': 10000}, False)[1]
        builtin.append(builtin_execution_time(job))
        builtin_jobs.append(job)
        wait_idle()
        run = client.run_plugin('LogMany', {'count': 10000}, False)[1]
        plugin.append(plugin_execution_time(run))
        plugin_runs.append(run)
    row('10,000 log lines: run time', builtin, plugin, 1.5)

    job, run = builtin_jobs[-1], plugin_runs[-1]
    builtin_page = f'/extras/scripts/results/{job}/'
    plugin_page = f'/plugins/custom-scripts/runs/{run}/'
    builtin, plugin, builtin_1000, plugin_1000 = [], [], [], []
    for _ in range(REPS):
        builtin.append(
            client.timed_get(client.ui, builtin_page)
            + client.timed_get(client.ui, builtin_page, htmx=True)
            + client.timed_get(client.ui, f'{builtin_page}?embedded=True&log=True&log_threshold=info', htmx=True)
        )
        plugin.append(
            client.timed_get(client.ui, plugin_page)
            + client.timed_get(client.ui, f'{plugin_page}log/', htmx=True)
        )
        builtin_1000.append(client.timed_get(
            client.ui, f'{builtin_page}?embedded=True&log=True&log_threshold=info&per_page=1000', htmx=True))
        plugin_1000.append(client.timed_get(client.ui, f'{plugin_page}log/?per_page=1000', htmx=True))
    row('10,000-line run: run page with its first log page', builtin, plugin, 1.0,
        'built-in: page + 2 HTMX partials; plugin: page + 1 HTMX partial')
    row('10,000-line run: a 1000-line log page', builtin_1000, plugin_1000, 0.5)

    # 100,000 lines open as fast as 10 (plugin only: ratio against its own 10-line run)
    wait_idle()
    small = client.run_plugin('LogMany', {'count': 10}, False)[1]
    wait_idle()
    big = client.run_plugin('LogMany', {'count': 100000}, False)[1]
    small_times, big_times = [], []
    for _ in range(REPS):
        for run, times in ((small, small_times), (big, big_times)):
            page = f'/plugins/custom-scripts/runs/{run}/'
            times.append(client.timed_get(client.ui, page) + client.timed_get(client.ui, f'{page}log/', htmx=True))
    row('Plugin run page: 100,000 lines vs 10 lines (ratio big/small)', small_times, big_times, 2.0,
        '"built-in" column is the plugin\'s own 10-line run')

    # Listing 205 scripts in 52 modules
    builtin, plugin, builtin_api, plugin_api = [], [], [], []
    for _ in range(REPS + 1):
        builtin.append(client.timed_get(client.ui, '/extras/scripts/'))
        plugin.append(client.timed_get(client.ui, '/plugins/custom-scripts/scripts/?per_page=1000'))
        builtin_api.append(client.timed_get(client.api, '/api/extras/scripts/?limit=1000'))
        plugin_api.append(client.timed_get(client.api, '/api/plugins/custom-scripts/scripts/?limit=1000'))
    row('List 205 scripts in 52 modules, UI (all rows)', builtin[1:], plugin[1:], 0.2)
    row('List 205 scripts in 52 modules, API (limit=1000)', builtin_api[1:], plugin_api[1:], 0.2)

    rows.append(measure_throughput(processes))
    return rows


def measure_throughput(processes):
    """100 short runs with 1 and 2 workers, each system's 2-worker rate as a multiple of its 1-worker rate."""
    throughput = {}
    for workers in (1, 2):
        processes.workers(workers)
        for system, measure_rate in (('plugin', plugin_throughput), ('builtin', builtin_throughput)):
            rates = []
            for _ in range(THROUGHPUT_REPS):
                wait_idle()
                rates.append(measure_rate(100))
            throughput[(system, workers)] = median(rates)
        say(f'{workers} worker(s): plugin {throughput[("plugin", workers)]:.1f} runs/s, '
            f'built-in {throughput[("builtin", workers)]:.1f} runs/s')
    return {
        'workload': '100 short runs: throughput, 2 workers / 1 worker (higher is better)',
        'builtin': throughput[('builtin', 2)] / throughput[('builtin', 1)],
        'plugin': throughput[('plugin', 2)] / throughput[('plugin', 1)],
        'target': 1.7, 'scaling': True,
        'note': (f'runs/s (median of {THROUGHPUT_REPS}): plugin {throughput[("plugin", 1)]:.1f} -> '
                 f'{throughput[("plugin", 2)]:.1f}, built-in {throughput[("builtin", 1)]:.1f} -> '
                 f'{throughput[("builtin", 2)]:.1f}'),
    }


def plugin_throughput(count):
    from django.db import transaction
    from users.models import User

    from netbox_custom_scripts.execution import submit_run
    from netbox_custom_scripts.models import Script, ScriptRun

    user = User.objects.get(username='bench')
    script = Script.objects.get(module__name='bench_basic', class_name='Noop')
    with transaction.atomic():  # every job reaches RQ when this commits
        ids = [submit_run(script, user=user, commit=False, source='api').pk for _ in range(count)]
    start = time.perf_counter()
    while ScriptRun.objects.filter(pk__in=ids, completed__isnull=True).exists():
        time.sleep(0.05)
    return count / (time.perf_counter() - start)


def builtin_throughput(count):
    from core.models import Job
    from django.db import transaction
    from extras.jobs import ScriptJob
    from extras.models import Script
    from users.models import User

    user = User.objects.get(username='bench')
    script = Script.objects.get(module__file_path='bench_basic.py', name='Noop')
    with transaction.atomic():
        ids = [ScriptJob.enqueue(instance=script, user=user, data={}, commit=False).pk for _ in range(count)]
    start = time.perf_counter()
    while Job.objects.filter(pk__in=ids, completed__isnull=True).exists():
        time.sleep(0.05)
    return count / (time.perf_counter() - start)


#
# Report
#

def machine():
    cpu = platform.processor() or ''
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    load = ', '.join(f'{value:.2f}' for value in os.getloadavg())
    return f'{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), load average {load}'


def report(rows, started):
    lines = [
        '# Bench: netbox-custom-scripts vs NetBox built-in scripts',
        '',
        f'Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; NetBox 4.7.3, Python {platform.python_version()}, '
        f'`netbox runserver` and `netbox rqworker` on 127.0.0.1; medians of {REPS} (fast) or {SLOW_REPS} (slow) '
        f'repetitions, the two systems interleaved.',
        '',
        '| Workload | Built-in | Plugin | Ratio | Target | Met |',
        '|---|---|---|---|---|---|',
    ]
    for row in rows:
        if row.get('scaling'):
            ratio = row['plugin']
            met = ratio >= row['target']
            lines.append(f'| {row["workload"]} | {row["builtin"]:.2f}x | {row["plugin"]:.2f}x | {ratio:.2f} | '
                         f'>= {row["target"]} | {"yes" if met else "NO"} |')
        else:
            ratio = row['plugin'] / row['builtin']
            met = ratio <= row['target']
            lines.append(f'| {row["workload"]} | {row["builtin"]:.3f} s | {row["plugin"]:.3f} s | {ratio:.2f} | '
                         f'<= {row["target"]} | {"yes" if met else "NO"} |')
    notes = [f'- {row["workload"]}: {row["note"]}' for row in rows if row.get('note')]
    if notes:
        lines += ['', 'Notes:', *notes]
    lines += ['', '<details><summary>Raw timings (seconds)</summary>', '', '```json',
              json.dumps([{k: v for k, v in row.items() if k.endswith('_runs') or k == 'workload'}
                          for row in rows if 'builtin_runs' in row], indent=1), '```', '', '</details>', '']
    return '\n'.join(lines)


def main():
    import django

    started = datetime.datetime.now(datetime.UTC)
    say('Writing the workload modules')
    write_workloads()
    django.setup()
    say('Registering them with NetBox and with the plugin')
    token = register_everything()
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
        rows = measure(client, processes)
    finally:
        processes.stop_all()
    text = report(rows, started)
    print()
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    latest = os.path.join(RESULTS, f'{ONLY}.md' if ONLY else 'latest.md')
    if not ONLY and os.path.exists(latest):
        os.replace(latest, os.path.join(RESULTS, 'previous.md'))
    with open(latest, 'w') as f:
        f.write(text)
    say(f'Written to {os.path.relpath(latest, REPO)}' + ('' if ONLY else ' (the previous result is in previous.md)'))


if __name__ == '__main__':
    main()
