"""
Contract: the package's rings hold, whoever edits it next (docs/development.md draws them).

- The authoring API (`scripting/`, and `scripts.py`/`reports.py` that re-export it) imports nothing of ours but
  itself, so a script module loads no engine, model or view.
- The shared base (`choices.py`, `cron.py`, `events.py`, `signals.py`, `text.py`, `version.py`) imports nothing of ours
  but the authoring API (whose vocabulary - log levels, notification choices - its choices are built from, so the two
  cannot drift).
- Models import only the base and the authoring API: never the core, never an adapter.
- The execution core (`execution/`) never imports an adapter: views, forms, tables, filtersets, the REST API,
  GraphQL, the management command, the jobs module, event rules, the built-in migration.
- Adapters reach the core through its front door (`netbox_custom_scripts.execution`) only.
- No module of ours takes part in an import cycle, lazy (function-level) imports included.
- Only the core enqueues jobs.

Imports are read from the source (every `import` statement, at any depth), not from a running process, so a lazy
import that runs only on one code path is held too.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = 'netbox_custom_scripts'
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

AUTHORING = ('scripting', 'scripts', 'reports')
BASE = ('choices', 'cron', 'events', 'signals', 'text', 'version')
MODELS = ('models',)
CORE = ('execution',)
# Everything else under the package is an adapter (or the plugin's configuration module, the package itself).
TOP = ('',)


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def package_modules():
    return {
        module_name(path): path
        for path in sorted(ROOT.rglob('*.py'))
        if 'migrations' not in path.parts and 'templates' not in path.parts
    }


MODULES = package_modules()


# Calls that import the module named by their first argument (a string): importlib's, Python's own, Django's.
DYNAMIC_IMPORTS = ('import_module', '__import__', 'import_string')


def longest_module(dotted):
    """The module of ours that `dotted` (a module path, maybe followed by attribute names) names, or None."""
    parts = dotted.split('.')
    for end in range(len(parts), 0, -1):
        if '.'.join(parts[:end]) in MODULES:
            return '.'.join(parts[:end])
    return None


def imports_of(name, path):
    """
    (imported module, line) for every import of ours in `path`, resolved to the module actually named: import
    statements at any depth, dynamic imports of a literal name (importlib.import_module('...'), __import__,
    import_string), and attribute chains through an imported package (`from .. import execution` then
    `execution.runner`). Importing a module imports its parent packages too: those are edges as well, except the
    packages the importer itself is in (they were imported before it).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == '__init__.py'
    found, bound = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == PACKAGE:
                    found.append((alias.name, node.lineno))
                    bound[alias.asname or alias.name.split('.')[0]] = alias.name if alias.asname else PACKAGE
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split('.') if is_package else name.split('.')[:-1]
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] != PACKAGE:
                continue
            for alias in node.names:
                # `from . import sources` names a submodule; `from .x import name` names module x.
                submodule = f'{target}.{alias.name}'
                found.append((submodule if submodule in MODULES else target, node.lineno))
                bound[alias.asname or alias.name] = submodule if submodule in MODULES else target
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, 'id', '')
            value = node.args[0].value
            if function in DYNAMIC_IMPORTS and isinstance(value, str) and value.split('.')[0] == PACKAGE:
                found.append((longest_module(value) or value, node.lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain, current = [], node
            while isinstance(current, ast.Attribute):
                chain.insert(0, current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id in bound:
                target = longest_module('.'.join([bound[current.id], *chain]))
                if target is not None and target != bound[current.id]:
                    found.append((target, node.lineno))
    with_parents = []
    for target, line in found:
        with_parents.append((target, line))
        parts = target.split('.')
        for end in range(2, len(parts)):
            parent = '.'.join(parts[:end])
            if parent in MODULES and not (name == parent or name.startswith(parent + '.')):
                with_parents.append((parent, line))
    return sorted({(target, line) for target, line in with_parents if target in MODULES or target == PACKAGE})


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def ring_of(name):
    rest = name[len(PACKAGE) + 1:] if name != PACKAGE else ''
    first = rest.split('.')[0]
    for ring, members in (('authoring', AUTHORING), ('base', BASE), ('models', MODELS), ('core', CORE)):
        if first in members:
            return ring
    return 'top' if rest == '' else 'adapter'


ALLOWED = {
    'authoring': {'authoring'},
    'base': {'base', 'authoring'},
    'models': {'base', 'authoring', 'models'},
    'core': {'base', 'authoring', 'models', 'core'},
    'adapter': {'base', 'authoring', 'models', 'core', 'adapter'},
    'top': {'base', 'authoring', 'models', 'core', 'adapter', 'top'},
}
FRONT_DOOR = f'{PACKAGE}.execution'


def violations(graph):
    found = []
    for source, targets in graph.items():
        source_ring = ring_of(source)
        for target, line in targets:
            target_ring = ring_of(target)
            where = f'{source} (line {line}) imports {target}'
            if target_ring not in ALLOWED[source_ring]:
                found.append(f'{where}: the {source_ring} ring may not import the {target_ring} ring')
            elif source_ring == 'authoring' and target_ring == 'authoring' and not target.startswith(
                f'{PACKAGE}.scripting'
            ):
                found.append(f'{where}: the authoring API imports only itself')
            elif target_ring == 'core' and source_ring not in ('core',) and target != FRONT_DOOR:
                found.append(f'{where}: outside the core, import its front door {FRONT_DOOR} only')
            elif source_ring == 'core' and target == FRONT_DOOR:
                found.append(f'{where}: inside the core, import the module that defines the name')
    return found


def cycles(graph):
    """Every strongly connected group of two or more modules (Tarjan), and modules that import themselves."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target, __ in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or any(target == node for target, __ in graph.get(node, ())):
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_every_import_points_inward():
    assert violations(GRAPH) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


# What puts work on RQ: JobRunner.enqueue and the methods of an RQ Queue.
QUEUE_METHODS = (
    'enqueue', 'enqueue_at', 'enqueue_call', 'enqueue_dependents', 'enqueue_in', 'enqueue_job', 'enqueue_many',
)


def enqueues(tree):
    """Lines that put work on a queue: `x.enqueue(...)` and the Queue methods, a bare `enqueue(...)` (django_rq's),
    or getattr(x, 'enqueue...'). The core's own enqueue_* functions, called by name, are the way to do it."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in QUEUE_METHODS and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == 'enqueue' or (node.func.id == 'getattr' and len(node.args) > 1 and isinstance(
                    node.args[1], ast.Constant) and str(node.args[1].value).startswith('enqueue')):
                lines.append(node.lineno)
    return lines


def outside_the_core_enqueueing(modules):
    return [
        f'{name}:{line}' for name, path in modules.items() if ring_of(name) != 'core'
        for line in enqueues(ast.parse(path.read_text()))
    ]


def test_only_the_core_enqueues_jobs():
    assert outside_the_core_enqueueing(MODULES) == []


@pytest.mark.parametrize('line', [
    'Job.enqueue(user=None)', 'queue.enqueue_call(f)', 'queue.enqueue_at(when, f)', 'enqueue(f)',
    'getattr(Job, "enqueue")(user=None)',
])
def test_an_enqueue_outside_the_core_is_caught(line):
    assert enqueues(ast.parse(line))


def test_jobs_queued_before_the_worker_moved_still_resolve():
    # RQ stores a JobRunner's job as its class (pickled by module and name) and "handle": the old path must lead to
    # the class that runs today.
    import pickle

    from netbox_custom_scripts import jobs
    from netbox_custom_scripts.execution import worker

    for name in ('RunScriptJob', 'SyncModulesJob', 'ActivateRevisionJob'):
        old = getattr(jobs, name)
        assert old is getattr(worker, name)
        # Protocol 0 names a class as text: the pickle of a job queued by the release before the move.
        queued_before = pickle.dumps(old, protocol=0).replace(b'netbox_custom_scripts.execution.worker',
                                                              b'netbox_custom_scripts.jobs')
        assert b'netbox_custom_scripts.jobs' in queued_before
        assert pickle.loads(queued_before) is old


def test_the_authoring_api_loads_nothing_else_of_ours():
    # A fresh interpreter with NetBox configured but the plugin not installed (its ready() would load everything):
    # what importing the authoring API itself loads.
    code = (
        'import sys, django; django.setup(); '
        f'import {PACKAGE}.scripting, {PACKAGE}.scripts; '
        f'loaded = sorted(m for m in sys.modules if m.startswith("{PACKAGE}.")); '
        'print("\\n".join(loaded))'
    )
    result = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parent.parent, env={**os.environ, 'NB_PLUGINS': ''},
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    others = [
        name for name in loaded
        if ring_of(name) not in ('authoring', 'base', 'top')
    ]
    assert f'{PACKAGE}.scripting' in loaded
    assert others == [], f'importing the authoring API loaded {others}'


# The checks themselves: each must fail on the mistake it is there to catch, so that a green run means something.

def _with(extra):
    graph = {name: list(targets) for name, targets in GRAPH.items()}
    for source, target in extra:
        graph.setdefault(source, []).append((target, 1))
    return graph


@pytest.mark.parametrize('source, target', [
    (f'{PACKAGE}.models.schedules', f'{PACKAGE}.execution.dispatch'),
    (f'{PACKAGE}.models.modules', f'{PACKAGE}.execution'),
    (f'{PACKAGE}.execution.dispatch', f'{PACKAGE}.jobs'),
    (f'{PACKAGE}.execution.runner', f'{PACKAGE}.views.runs'),
    (f'{PACKAGE}.execution.inputs', f'{PACKAGE}.forms.run'),
    (f'{PACKAGE}.scripting.script', f'{PACKAGE}.models'),
    (f'{PACKAGE}.scripting.variables', f'{PACKAGE}.choices'),
    (f'{PACKAGE}.choices', f'{PACKAGE}.models'),
    (f'{PACKAGE}.scripting.meta', f'{PACKAGE}.scripts'),
    (f'{PACKAGE}.jobs', f'{PACKAGE}.execution.worker'),
    (f'{PACKAGE}.views.runs', f'{PACKAGE}.execution.runner'),
    (f'{PACKAGE}.api.views.scripts', f'{PACKAGE}.execution.inputs'),
])
def test_a_wrong_import_is_caught(source, target):
    assert any(f'{source} (line 1) imports {target}' in problem for problem in violations(_with([(source, target)])))


def imports_in(source, directory, name=f'{PACKAGE}.models.schedules'):
    """The imports the reader finds in `source`, as if it were the module `name`."""
    path = directory / 'probe.py'
    path.write_text(source)
    return {target for target, __ in imports_of(name, path)}


@pytest.mark.parametrize('source, target', [
    ("import importlib\nimportlib.import_module('netbox_custom_scripts.execution.dispatch')\n",
     f'{PACKAGE}.execution.dispatch'),
    ("__import__('netbox_custom_scripts.execution.runner')\n", f'{PACKAGE}.execution.runner'),
    ("from django.utils.module_loading import import_string\n"
     "import_string('netbox_custom_scripts.execution.dispatch.cancel_run')\n", f'{PACKAGE}.execution.dispatch'),
    ('from .. import execution\nexecution.runner.run_script\n', f'{PACKAGE}.execution.runner'),
    ('import netbox_custom_scripts\nnetbox_custom_scripts.execution.worker.RunScriptJob\n',
     f'{PACKAGE}.execution.worker'),
    ('from ..execution.sources.registry import save_source\n', f'{PACKAGE}.execution.sources'),
])
def test_hidden_imports_are_read(source, target, tmp_path):
    assert target in imports_in(source, tmp_path)


def test_a_cycle_through_a_package_init_is_caught():
    # sources/__init__ importing dispatch: dispatch -> queueing -> sources.registry runs sources/__init__ first.
    graph = _with([(f'{PACKAGE}.execution.sources', f'{PACKAGE}.execution.dispatch')])
    assert any(f'{PACKAGE}.execution.sources' in group and f'{PACKAGE}.execution.dispatch' in group
               for group in cycles(graph))


def test_a_cycle_is_caught():
    source, target = f'{PACKAGE}.execution.outcome', f'{PACKAGE}.execution.worker'
    found = cycles(_with([(source, target)]))
    assert any(source in group and target in group for group in found), found


def test_lazy_imports_are_read():
    # A function-level import (as models once made into the engine) is in the graph like any other.
    assert f'{PACKAGE}.jobs' in {target for target, __ in GRAPH[PACKAGE]}
    assert all(ring_of(name) for name in GRAPH)
