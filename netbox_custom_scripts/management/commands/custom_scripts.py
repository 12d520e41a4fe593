"""
netbox custom_scripts: list, run and inspect custom scripts from the command line.

    netbox custom_scripts list
    netbox custom_scripts run branches.NewBranch --user alice --data '{"site_name": "ams1"}' [--commit]
    netbox custom_scripts run branches.NewBranch --user alice --data @inputs.json
    netbox custom_scripts run branches.NewBranch --user alice --data @- < inputs.json
    netbox custom_scripts show 42 [--follow]
    netbox custom_scripts rerun 42 --user alice [--data @-] [--commit | --dry-run]
    netbox custom_scripts apply 42 --user alice [--data @-]
    netbox custom_scripts approve 42 --user bob [--comment "..."] [--wait]
    netbox custom_scripts reject 42 --user bob --comment "..."
    netbox custom_scripts test branches.NewBranch --user alice
    netbox custom_scripts sync
    netbox custom_scripts migrate-builtin [--plan | --apply | --verify | --cleanup] [--only MODULE...] [--user U]

Runs go through the same path as the web UI and the API (permissions, input validation, the run record). The
command starts fast: it skips Django's system checks and never loads NetBox's URL configuration or GraphQL schema.

Secret inputs (SecretVar, Meta.sensitive_variables) written into --data show in `ps` and the shell history. Pipe
them in with `--data @-` instead, or leave them out: on a terminal, `run` asks (without echo) for each required
secret that has no default, and `rerun`/`apply` for each secret the earlier run was given (secrets are never
stored) and each required one; an empty answer leaves it out. Without a terminal (scripts, CI) nothing is asked.
"""
import datetime
import getpass
import json
import sys
import threading
import time
import warnings

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from ... import jobs
from ...choices import ModuleSourceChoices, ModuleStatusChoices, RunSourceChoices, RunStatusChoices
from ...execution.approvals import approve_run, reject_run
from ...execution.dispatch import check_run_permission, get_script_class, rerun, submit_run
from ...execution.errors import RunRefused
from ...execution.inputs import InputError, visible_variables
from ...execution.modules import sync_directory
from ...execution.runner import hard_stop_exit
from ...migrate_builtin import cli as migrate_builtin_cli
from ...models import RunLogEntry, Script, ScriptModule, ScriptRun
from ...scripting.log import LOG_LEVELS
from ...scripting.script import secret_variable_names
from ...scripting.variables import FileVar
from ...text import is_whole_number

# Exit status by final run status: 0 only for a run that completed cleanly.
EXIT_CODES = {
    RunStatusChoices.COMPLETED: 0,
    RunStatusChoices.FAILED: 1,
    RunStatusChoices.ABORTED: 2,
    RunStatusChoices.ERRORED: 3,
    RunStatusChoices.TIMED_OUT: 4,
    RunStatusChoices.CANCELLED: 5,
    RunStatusChoices.AWAITING_APPROVAL: 6,
    RunStatusChoices.REJECTED: 7,
    RunStatusChoices.APPROVED: 0,
    RunStatusChoices.REFUSED: 10,
}
EXIT_REFUSED = 10  # bad arguments, unknown user or script, invalid inputs, no permission

# NetBox's runscript takes Python logging levels; map them onto script log levels.
LOGLEVELS = {'debug': 'debug', 'info': 'info', 'warning': 'warning', 'error': 'failure', 'critical': 'failure'}

DATA_HELP = 'a JSON object, @file with the JSON, or @- to read the JSON from standard input'


class Command(BaseCommand):
    help = 'List, run and inspect custom scripts (netbox-custom-scripts).'
    requires_system_checks = []

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest='command', required=True, metavar='{list,run,show,sync}')

        listing = commands.add_parser('list', help='List the scripts')
        listing.add_argument('--json', action='store_true', help='Print JSON')

        run = commands.add_parser('run', help='Run a script')
        run.add_argument('script', help='module.Class (or the script ID)')
        run.add_argument('--user', required=True, help='Run as this user (with their permissions)')
        run.add_argument('--data', default='{}', help=f'Inputs: {DATA_HELP}. On a terminal, required secret '
                         'inputs left out are asked for without echo')
        run.add_argument('--commit', action='store_true', help='Commit the changes (default: a dry run)')
        run.add_argument('--loglevel', choices=list(LOGLEVELS), default='info',
                         help='Lowest log level to print (default: info)')
        run.add_argument('--schedule-at', help='Queue the run for this time (ISO 8601), for a worker to run')
        run.add_argument('--background', action='store_true',
                         help='Queue the run for an RQ worker instead of running it in this process')
        run.add_argument('--wait', action='store_true', help='With --background: follow the log until it ends')
        run.add_argument('--json', action='store_true', help='Print the finished run as JSON instead of the log')

        show = commands.add_parser('show', help='Show a run and its log')
        show.add_argument('run_id', type=int)
        show.add_argument('--follow', action='store_true', help='Keep printing new log lines until the run ends')
        show.add_argument('--loglevel', choices=list(LOGLEVELS), default='debug')
        show.add_argument('--json', action='store_true', help='Print JSON')

        rerun = commands.add_parser('rerun', help="Run again with an earlier run's stored inputs")
        rerun.add_argument('run_id', type=int)
        rerun.add_argument('--user', required=True, help='Run as this user (with their permissions)')
        rerun.add_argument('--data', default='{}', help=f'Inputs to give again or change: {DATA_HELP}. Secrets are '
                           'never stored: on a terminal, those left out are asked for without echo')
        mode = rerun.add_mutually_exclusive_group()
        mode.add_argument('--commit', action='store_true', default=None, help='Commit this time')
        mode.add_argument('--dry-run', dest='commit', action='store_false', help='Roll back this time')
        rerun.add_argument('--loglevel', choices=list(LOGLEVELS), default='info')
        rerun.add_argument('--json', action='store_true', help='Print the finished run as JSON instead of the log')

        apply = commands.add_parser('apply', help='Apply a dry run: run it again, committing, with the same inputs')
        apply.add_argument('run_id', type=int)
        apply.add_argument('--user', required=True)
        apply.add_argument('--data', default='{}', help=f'Secret or file inputs to give again: {DATA_HELP}. On a '
                           'terminal, secrets left out are asked for without echo')
        apply.add_argument('--loglevel', choices=list(LOGLEVELS), default='info')
        apply.add_argument('--json', action='store_true')

        approve = commands.add_parser('approve', help="Approve a run awaiting approval (someone else's)")
        approve.add_argument('run_id', type=int)
        approve.add_argument('--user', required=True, help='The reviewer')
        approve.add_argument('--comment', default='')
        approve.add_argument('--wait', action='store_true', help='Follow the committed run until it ends')
        approve.add_argument('--loglevel', choices=list(LOGLEVELS), default='info')

        reject = commands.add_parser('reject', help="Reject a run awaiting approval (someone else's)")
        reject.add_argument('run_id', type=int)
        reject.add_argument('--user', required=True, help='The reviewer')
        reject.add_argument('--comment', required=True, help='Why it is rejected')

        test = commands.add_parser('test', help="Run a script's own tests (always rolled back); exit 0 if they pass")
        test.add_argument('script', help='module.Class (or the script ID)')
        test.add_argument('--user', required=True)
        test.add_argument('--loglevel', choices=list(LOGLEVELS), default='info')
        test.add_argument('--json', action='store_true')

        commands.add_parser('sync', help='Re-read the scripts directory (setting scripts_dir)')

        migrate_builtin_cli.add_parser(commands)

    def handle(self, *args, **options):
        command = options['command']
        # A script run here that will not stop after its time limit or a cancel is stopped hard: this process
        # then exits with the run's exit status (its record and log are written first).
        jobs.in_process_hard_stop_exit = hard_stop_exit(
            code=lambda run: EXIT_CODES.get(run.status, 1),
            message=lambda run: f'Run #{run.pk}: {run.get_status_display()}: {run.error}',
        )
        try:
            return getattr(self, f'handle_{command.replace("-", "_")}')(**options)
        except CommandError:
            raise
        except (InputError, RunRefused, PermissionDenied) as exc:
            raise CommandError(self._describe_error(exc), returncode=EXIT_REFUSED)
        finally:
            jobs.in_process_hard_stop_exit = None

    @staticmethod
    def _describe_error(exc):
        if isinstance(exc, InputError):
            return 'Invalid inputs: ' + '; '.join(
                f'{name if name != "__all__" else "script"}: {" ".join(messages)}'
                for name, messages in exc.message_dict.items()
            )
        return str(exc) or type(exc).__name__

    # list

    def handle_list(self, **options):
        sync_directory()
        scripts = Script.objects.filter(is_active=True).select_related('module').order_by('module__name', 'weight')
        rows = [
            {'id': s.pk, 'full_name': s.full_name, 'name': s.name, 'module': s.module.name,
             'runnable': s.module.is_runnable, 'description': s.description}
            for s in scripts
        ]
        if options.get('json'):
            self.stdout.write(json.dumps(rows, indent=2))
            return
        width = max((len(row['full_name']) for row in rows), default=10)
        for row in rows:
            state = '' if row['runnable'] else '  [module error]'
            self.stdout.write(f'{row["full_name"]:<{width}}  {row["name"]}{state}')

    # run

    def _get_user(self, username):
        from users.models import User

        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f'No user named {username!r}; give an existing user with --user.',
                               returncode=EXIT_REFUSED)
        if not user.is_active:
            raise CommandError(f'User {username!r} is inactive.', returncode=EXIT_REFUSED)
        return user

    def _get_script(self, reference):
        sync_directory()
        queryset = Script.objects.select_related('module__current_revision')
        if is_whole_number(reference):
            script = queryset.filter(pk=int(reference)).first()
        else:
            module, _, class_name = reference.rpartition('.')
            script = queryset.filter(module__name=module, class_name=class_name).first()
        if script is None:
            raise CommandError(f'No script {reference!r}; `netbox custom_scripts list` shows them.',
                               returncode=EXIT_REFUSED)
        return script

    @staticmethod
    def _read_data(value):
        text = value
        if value == '@-':
            # Piped in, secret values stay out of `ps` and the shell history.
            try:
                text = sys.stdin.read()
            except KeyboardInterrupt:
                raise CommandError('Cancelled while reading --data from standard input; nothing was run.',
                                   returncode=EXIT_REFUSED) from None
            except UnicodeDecodeError:
                raise CommandError('--data @- read standard input that is not UTF-8 text.',
                                   returncode=EXIT_REFUSED) from None
            except OSError as exc:
                raise CommandError(f'Cannot read standard input for --data @-: {exc.strerror or exc}.',
                                   returncode=EXIT_REFUSED) from None
            if not text.strip():
                raise CommandError('--data @- read nothing from standard input; pipe a JSON object of inputs into it.',
                                   returncode=EXIT_REFUSED)
        elif value.startswith('@'):
            try:
                with open(value[1:], encoding='utf-8') as f:
                    text = f.read()
            except OSError as exc:
                raise CommandError(f'Cannot read {value[1:]}: {exc.strerror}.', returncode=EXIT_REFUSED)
        try:
            data = json.loads(text)
        except ValueError as exc:
            # The decoder's message gives a position, never the text (which may hold secrets).
            raise CommandError(f'--data is not valid JSON: {exc}.', returncode=EXIT_REFUSED) from None
        if not isinstance(data, dict):
            raise CommandError('--data must be a JSON object of input values by variable name.',
                               returncode=EXIT_REFUSED)
        return data

    def _ask_for_secrets(self, script, user, data, given_before=()):
        """
        On a terminal, ask (without echo) for the secret inputs that `data` leaves out and the run needs: each
        required one without a default, and each in `given_before` (a re-run's, since secrets are never stored).
        An empty answer leaves the input out. Returns the inputs to submit.
        """
        if not _stdin_is_terminal():
            return data  # scripts and CI: a missing secret is reported as an input error, never waited for
        script_class = get_script_class(script)
        secret_names = secret_variable_names(script_class)
        # Variables the form hides always take their default and cannot be given.
        wanted = [
            (name, var) for name, var in visible_variables(script_class).items()
            if name in secret_names and name not in data and not isinstance(var, FileVar)
            and (name in given_before or (var.required and var.default in (None, '')))
        ]
        if not wanted:
            return data
        check_run_permission(script, user)  # ask for no secret that a refused run would never use
        data = dict(data)
        for name, var in wanted:
            empty = 'empty for the default' if var.default not in (None, '') else 'empty to leave it out'
            prompt = f'{var.label or name} (secret, not shown; {empty}): '
            try:
                with warnings.catch_warnings():
                    # getpass echoes the input, with only a warning, when it cannot turn echo off: refuse instead.
                    warnings.simplefilter('error', getpass.GetPassWarning)
                    value = getpass.getpass(prompt)
            except (EOFError, KeyboardInterrupt):
                raise CommandError(f'Cancelled at the prompt for the secret input {name!r}; nothing was run.',
                                   returncode=EXIT_REFUSED) from None
            except getpass.GetPassWarning:
                raise CommandError('Cannot turn off echo on this terminal to ask for secret inputs; give them with '
                                   '--data @- instead.', returncode=EXIT_REFUSED) from None
            if value:
                data[name] = value
        return data

    def handle_run(self, script, user, data, commit, loglevel, schedule_at, background, wait, **options):
        user = self._get_user(user)
        script = self._get_script(script)
        data = self._read_data(data)
        when = None
        if schedule_at:
            when = parse_datetime(schedule_at)
            if when is None:
                raise CommandError(f'--schedule-at {schedule_at!r} is not an ISO 8601 date and time.',
                                   returncode=EXIT_REFUSED)
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.UTC)
        else:
            # A scheduled run cannot carry secrets (they are never stored): asking for them would be pointless.
            data = self._ask_for_secrets(script, user, data)
        queued = background or when is not None
        as_json = options.get('json')

        if queued:
            run = submit_run(script, user=user, data=data, commit=commit, source=RunSourceChoices.CLI,
                             schedule_at=when)
            if not wait:
                self.stderr.write(f'Queued run #{run.pk} ({run.get_status_display().lower()}).')
                if as_json:
                    self.stdout.write(json.dumps(self._summary(run), indent=2, default=str))
                return
            run = self._follow(run.pk, loglevel, quiet=as_json)
        else:
            printer = _LogPrinter(self, loglevel, quiet=as_json)
            try:
                run = submit_run(script, user=user, data=data, commit=commit, source=RunSourceChoices.CLI,
                                 immediate=True, on_created=printer.start)
            finally:
                printer.stop()
            printer.drain(run.pk)
        return self._finish(run, as_json)

    def _finish(self, run, as_json):
        run.refresh_from_db()
        if as_json:
            self.stdout.write(json.dumps(self._summary(run), indent=2, default=str))
        else:
            if run.output:
                self.stdout.write(run.output)
            line = f'Run #{run.pk}: {run.get_status_display()}'
            if run.error and run.status != RunStatusChoices.COMPLETED:
                line += f': {run.error}'
            if run.status == RunStatusChoices.AWAITING_APPROVAL:
                line += ' (dry run: nothing is committed until someone else approves it)'
            elif not run.commit:
                line += ' (dry run: changes rolled back)'
            self.stderr.write(line)
        code = EXIT_CODES.get(run.status, 1)
        if code:
            sys.exit(code)

    @staticmethod
    def _summary(run):
        return {
            'id': run.pk, 'script': run.script_name, 'status': run.status, 'commit': run.commit,
            'created': run.created, 'started': run.started, 'completed': run.completed, 'inputs': run.inputs,
            'output': run.output, 'error': run.error, 'log_counts': run.log_counts, 'change_count': run.change_count,
        }

    # show

    def handle_show(self, run_id, follow, loglevel, **options):
        run = ScriptRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f'No run #{run_id}.', returncode=EXIT_REFUSED)
        if options.get('json'):
            summary = self._summary(run)
            summary['log'] = [
                {'id': e.id, 'time': e.time, 'level': e.level, 'message': e.message, 'object': e.object_repr}
                for e in run.log_entries.order_by('id')
            ]
            self.stdout.write(json.dumps(summary, indent=2, default=str))
            return
        self.stderr.write(f'Run #{run.pk} of {run.script_name} by {run.user or "?"} ({run.get_source_display()}), '
                          f'{"commit" if run.commit else "dry run"}: {run.get_status_display()}')
        if follow and run.is_active:
            run = self._follow(run.pk, loglevel)
            return self._finish(run, False)
        printer = _LogPrinter(self, loglevel)
        printer.drain(run.pk)
        if run.output:
            self.stdout.write(run.output)

    def _follow(self, run_id, loglevel, quiet=False):
        printer = _LogPrinter(self, loglevel, quiet=quiet)
        while True:
            printer.drain(run_id)
            run = ScriptRun.objects.get(pk=run_id)
            if not run.is_active:
                printer.drain(run_id)
                return run
            printer.show_progress(run)
            time.sleep(0.3)

    # rerun, apply, approve, reject

    def _get_run(self, run_id):
        run = ScriptRun.objects.select_related('script__module', 'user').filter(pk=run_id).first()
        if run is None:
            raise CommandError(f'No run #{run_id}.', returncode=EXIT_REFUSED)
        return run

    def handle_rerun(self, run_id, user, data, commit, loglevel, **options):
        user, run, data = self._get_user(user), self._get_run(run_id), self._read_data(data)
        if run.script is not None and not run.health_check:
            # Secret inputs are stored masked: ask again for those the earlier run was given.
            given_before = {name for name, value in run.inputs.items() if value not in (None, '')}
            data = self._ask_for_secrets(run.script, user, data, given_before)
        as_json = options.get('json')
        printer = _LogPrinter(self, loglevel, quiet=as_json)
        try:
            new_run = rerun(run, user=user, source=RunSourceChoices.CLI, commit=commit, data=data, immediate=True,
                            on_created=printer.start)
        finally:
            printer.stop()
        printer.drain(new_run.pk)
        return self._finish(new_run, as_json)

    def handle_apply(self, run_id, **options):
        run = self._get_run(run_id)
        if run.commit:
            raise CommandError(f'Run #{run.pk} already committed; only a dry run can be applied.',
                               returncode=EXIT_REFUSED)
        return self.handle_rerun(run_id, commit=True, **options)

    def handle_approve(self, run_id, user, comment, wait, loglevel, **options):
        reviewer, run = self._get_user(user), self._get_run(run_id)
        committed = approve_run(run, reviewer, comment)
        self.stderr.write(f'Approved run #{run.pk}; run #{committed.pk} commits it '
                          f'({committed.get_status_display().lower()}).')
        if wait:
            return self._finish(self._follow(committed.pk, loglevel), False)

    def handle_reject(self, run_id, user, comment, **options):
        reviewer, run = self._get_user(user), self._get_run(run_id)
        reject_run(run, reviewer, comment)
        self.stderr.write(f'Rejected run #{run.pk}.')

    def handle_test(self, script, user, loglevel, **options):
        user, script = self._get_user(user), self._get_script(script)
        as_json = options.get('json')
        printer = _LogPrinter(self, loglevel, quiet=as_json)
        try:
            run = submit_run(script, user=user, source=RunSourceChoices.CLI, immediate=True, health_check=True,
                             on_created=printer.start)
        finally:
            printer.stop()
        printer.drain(run.pk)
        return self._finish(run, as_json)

    # migrate-builtin

    def handle_migrate_builtin(self, **options):
        migrate_builtin_cli.handle(self, self._get_user, **options)

    # sync

    def handle_sync(self, **options):
        result = sync_directory(force=True)
        if result is None:
            raise CommandError('No scripts directory is configured (setting scripts_dir).', returncode=EXIT_REFUSED)
        for kind in ('created', 'updated', 'missing'):
            for name in getattr(result, kind):
                self.stdout.write(f'{kind}: {name}')
        for name, error in result.errors.items():
            self.stderr.write(f'error: {name}: {error}')
        self._write_warnings()
        if not result.changed and not result.errors:
            self.stdout.write('No changes.')

    def _write_warnings(self):
        # Every time, not only when a module changed: what NetBox tolerates stays a warning until it is fixed.
        modules = ScriptModule.objects.filter(
            source=ModuleSourceChoices.DIRECTORY, status=ModuleStatusChoices.OK
        ).prefetch_related('scripts').order_by('name')
        for module in modules:
            for warning in module.warnings or ():
                self.stderr.write(f'warning: {module.name}: {warning}')
            for script in sorted(module.scripts.all(), key=lambda script: script.weight):
                if script.is_active:
                    for warning in script.warnings or ():
                        self.stderr.write(f'warning: {module.name}.{script.class_name}: {warning}')


def _stdin_is_terminal():
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


class _LogPrinter:
    """Prints a run's log lines as they are written (by this process's recorder thread, or by a worker)."""

    def __init__(self, command, loglevel, quiet=False):
        self.command = command
        self.levels = LOG_LEVELS[LOG_LEVELS.index(LOGLEVELS[loglevel]):]
        self.quiet = quiet
        self.last_id = 0
        self.run_id = None
        self._stop = threading.Event()
        self._thread = None
        self._progress_shown = False
        self.tty = command.stderr.isatty()

    def drain(self, run_id):
        while True:
            entries = list(
                RunLogEntry.objects.filter(run_id=run_id, id__gt=self.last_id).order_by('id')
                .values_list('id', 'level', 'message', 'object_repr')[:1000]
            )
            if not entries:
                return
            for entry_id, level, message, object_repr in entries:
                self.last_id = entry_id
                if level in self.levels and not self.quiet:
                    self._clear_progress()
                    prefix = f'{object_repr}: ' if object_repr else ''
                    self.command.stdout.write(f'[{level}] {prefix}{message}')

    def show_progress(self, run):
        if self.quiet or not self.tty or not run.progress_total:
            return
        width = 30
        filled = int(width * run.progress_percent / 100)
        bar = '#' * filled + '-' * (width - filled)
        message = f' {run.progress_message}' if run.progress_message else ''
        self.command.stderr.ending = ''
        self.command.stderr.write(f'\r[{bar}] {run.progress_percent:3d}%{message[:60]}')
        self.command.stderr.ending = '\n'
        self._progress_shown = True

    def _clear_progress(self):
        if self._progress_shown:
            self.command.stderr.ending = ''
            self.command.stderr.write('\r' + ' ' * 100 + '\r')
            self.command.stderr.ending = '\n'
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
