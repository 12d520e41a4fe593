"""Printing runs: their log as it is written, progress on a terminal, the result, and the exit status."""
import json
import sys
import threading
import time

from ..choices import ModuleSourceChoices, ModuleStatusChoices, RunStatusChoices
from ..models import RunLog, ScriptModule, ScriptRun
from ..scripting.log import LOG_LEVELS
from .errors import EXIT_CODES, LOGLEVELS


def finish(console, run, as_json):
    run.refresh_from_db()
    if as_json:
        console.stdout.write(json.dumps(run_summary(run), indent=2, default=str))
    else:
        if run.output:
            console.stdout.write(terminal_safe(run.output, lines=True))
        line = f'Run #{run.pk}: {run.get_status_display()}'
        if run.error and run.status != RunStatusChoices.COMPLETED:
            line += f': {run.error}'
        if run.status == RunStatusChoices.AWAITING_APPROVAL:
            line += ' (dry run: nothing is committed until someone else approves it)'
        elif not run.commit:
            line += ' (dry run: changes rolled back)'
        console.stderr.write(line)
    code = EXIT_CODES.get(run.status, 1)
    if code:
        sys.exit(code)


def run_summary(run):
    return {
        'id': run.pk, 'script': run.script_name, 'status': run.status, 'commit': run.commit,
        'created': run.created, 'started': run.started, 'completed': run.completed, 'inputs': run.inputs,
        'output': run.output, 'error': run.error, 'log_counts': run.log_counts, 'change_count': run.change_count,
    }


def follow_run(console, run_id, loglevel, quiet=False):
    printer = LogPrinter(console, loglevel, quiet=quiet)
    while True:
        printer.drain(run_id)
        run = ScriptRun.objects.get(pk=run_id)
        if not run.is_active:
            printer.drain(run_id)
            return run
        printer.show_progress(run)
        time.sleep(0.3)


def write_warnings(console):
    # Every time, not only when a module changed: what NetBox tolerates stays a warning until it is fixed.
    modules = ScriptModule.objects.filter(
        source=ModuleSourceChoices.DIRECTORY, status=ModuleStatusChoices.OK
    ).prefetch_related('scripts').order_by('name')
    for module in modules:
        for warning in module.warnings or ():
            console.stderr.write(f'warning: {module.name}: {warning}')
        for script in sorted(module.scripts.all(), key=lambda script: script.weight):
            if script.is_active:
                for warning in script.warnings or ():
                    console.stderr.write(f'warning: {module.name}.{script.class_name}: {warning}')


# Control characters in a script's text (ESC sequences, carriage returns, line breaks) are printed as escapes: a
# script must not move the operator's cursor, recolour the terminal or print a line that looks like another one.
_CONTROL_ESCAPES = {code: f'\\x{code:02x}' for code in (*range(0x20), *range(0x7f, 0xa0)) if code != 0x09}
_CONTROL_ESCAPES.update({0x0a: '\\n', 0x0d: '\\r'})


_OUTPUT_ESCAPES = {code: escape for code, escape in _CONTROL_ESCAPES.items() if code != 0x0a}


def terminal_safe(text, lines=False):
    """`text` with its control characters escaped; `lines`: line breaks kept (a run's output is text to print)."""
    if text.isprintable():
        return text
    return text.translate(_OUTPUT_ESCAPES if lines else _CONTROL_ESCAPES)


class LogPrinter:
    """Prints a run's log lines as they are written (by this process's recorder thread, or by a worker)."""

    def __init__(self, console, loglevel, quiet=False):
        self.console = console
        self.levels = LOG_LEVELS[LOG_LEVELS.index(LOGLEVELS[loglevel]):]
        self.quiet = quiet
        self.last_id = 0
        self.run_id = None
        self._stop = threading.Event()
        self._thread = None
        self._progress_shown = False
        self.tty = console.stderr.isatty()

    def drain(self, run_id):
        while True:
            lines = RunLog(run_id, after=self.last_id)[:1000]
            if not lines:
                return
            for line in lines:
                self.last_id = line.number
                if line.level in self.levels and not self.quiet:
                    self._clear_progress()
                    prefix = f'{line.object_repr}: ' if line.object_repr else ''
                    self.console.stdout.write(f'[{line.level}] {terminal_safe(prefix)}{terminal_safe(line.message)}')

    def show_progress(self, run):
        if self.quiet or not self.tty or not run.progress_total:
            return
        width = 30
        filled = int(width * run.progress_percent / 100)
        bar = '#' * filled + '-' * (width - filled)
        message = f' {run.progress_message}' if run.progress_message else ''
        self.console.stderr.ending = ''
        self.console.stderr.write(f'\r[{bar}] {run.progress_percent:3d}%{message[:60]}')
        self.console.stderr.ending = '\n'
        self._progress_shown = True

    def _clear_progress(self):
        if self._progress_shown:
            self.console.stderr.ending = ''
            self.console.stderr.write('\r' + ' ' * 100 + '\r')
            self.console.stderr.ending = '\n'
            self._progress_shown = False

    def start(self, run):
        """Follow `run`, which this process is about to execute, from a thread of its own."""
        from django.db import connection

        self.run_id = run.pk

        def loop():
            try:
                while not self._stop.is_set():
                    self.drain(self.run_id)
                    current = ScriptRun.objects.filter(pk=self.run_id).first()
                    if current is not None:
                        self.show_progress(current)
                    self._stop.wait(0.2)
            finally:
                connection.close()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._clear_progress()
