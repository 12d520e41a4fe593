"""
The subcommands of `netbox custom_scripts`: one function each, of the console (the management command, for its
output streams) and the options.
"""
import datetime
import json

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from ..choices import RunSourceChoices
from ..execution import (
    RunRequest,
    approve_run,
    reject_run,
    rerun,
    submit,
    sync_directory,
)
from ..migrate_builtin import cli as migrate_builtin_cli
from ..models import Script, ScriptRun
from .arguments import run_option_values
from .errors import EXIT_REFUSED
from .lookups import ask_for_secrets, get_run, get_script, get_user, read_data
from .output import LogPrinter, finish, follow_run, run_summary, terminal_safe, write_warnings


def handle_list(console, **options):
    sync_directory()
    scripts = Script.objects.filter(is_active=True).select_related('module').order_by('module__name', 'weight')
    rows = [
        {'id': s.pk, 'full_name': s.full_name, 'name': s.name, 'module': s.module.name,
         'runnable': s.module.is_runnable, 'description': s.description}
        for s in scripts
    ]
    if options.get('json'):
        console.stdout.write(json.dumps(rows, indent=2))
        return
    width = max((len(row['full_name']) for row in rows), default=10)
    for row in rows:
        state = '' if row['runnable'] else '  [module error]'
        console.stdout.write(f'{row["full_name"]:<{width}}  {row["name"]}{state}')


def handle_run(console, script, user, data, commit, loglevel, schedule_at, background, wait, **options):
    user = get_user(user)
    script = get_script(script)
    data = read_data(data)
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
        data = ask_for_secrets(script, user, data)
    queued = background or when is not None
    as_json = options.get('json')
    # netbox-branching: a command line has no active branch; it runs in main unless told.
    placement = {'branch': options.get('branch') or None, 'new_branch': options.get('new_branch') or ''}

    if queued:
        run = submit(RunRequest(
            script=script, user=user, data=data, commit=commit, source=RunSourceChoices.CLI, schedule_at=when,
            **placement, **run_option_values(options),
        ))
        if not wait:
            console.stderr.write(f'Queued run #{run.pk} ({run.get_status_display().lower()}).')
            if as_json:
                console.stdout.write(json.dumps(run_summary(run), indent=2, default=str))
            return
        run = follow_run(console, run.pk, loglevel, quiet=as_json)
    else:
        printer = LogPrinter(console, loglevel, quiet=as_json)
        try:
            run = submit(RunRequest(
                script=script, user=user, data=data, commit=commit, source=RunSourceChoices.CLI, immediate=True,
                on_created=printer.start, **placement, **run_option_values(options),
            ))
        finally:
            printer.stop()
        printer.drain(run.pk)
    return finish(console, run, as_json)


def handle_show(console, run_id, follow, loglevel, **options):
    run = ScriptRun.objects.filter(pk=run_id).first()
    if run is None:
        raise CommandError(f'No run #{run_id}.', returncode=EXIT_REFUSED)
    if options.get('json'):
        shown = run_summary(run)
        shown['log'] = [
            {'id': e.id, 'time': e.time, 'level': e.level, 'message': e.message, 'object': e.object_repr}
            for e in run.log_entries
        ]
        console.stdout.write(json.dumps(shown, indent=2, default=str))
        return
    console.stderr.write(f'Run #{run.pk} of {run.script_name} by {run.user or "?"} ({run.get_source_display()}), '
                      f'{"commit" if run.commit else "dry run"}: {run.get_status_display()}')
    if follow and run.is_active:
        run = follow_run(console, run.pk, loglevel)
        return finish(console, run, False)
    printer = LogPrinter(console, loglevel)
    printer.drain(run.pk)
    if run.output:
        console.stdout.write(terminal_safe(run.output, lines=True))


def handle_rerun(console, run_id, user, data, commit, loglevel, **options):
    user, run, data = get_user(user), get_run(run_id), read_data(data)
    if run.script is not None and not run.health_check:
        # Secret inputs are stored masked: ask again for those the earlier run was given.
        given_before = {name for name, value in run.inputs.items() if value not in (None, '')}
        data = ask_for_secrets(run.script, user, data, given_before)
    as_json = options.get('json')
    printer = LogPrinter(console, loglevel, quiet=as_json)
    try:
        new_run = rerun(run, user=user, source=RunSourceChoices.CLI, commit=commit, data=data, immediate=True,
                        on_created=printer.start, **run_option_values(options))
    finally:
        printer.stop()
    printer.drain(new_run.pk)
    return finish(console, new_run, as_json)


def handle_apply(console, run_id, **options):
    run = get_run(run_id)
    if run.commit:
        raise CommandError(f'Run #{run.pk} already committed; only a dry run can be applied.',
                           returncode=EXIT_REFUSED)
    return handle_rerun(console, run_id, commit=True, **options)


def handle_approve(console, run_id, user, comment, wait, loglevel, **options):
    reviewer, run = get_user(user), get_run(run_id)
    committed = approve_run(run, reviewer, comment)
    console.stderr.write(f'Approved run #{run.pk}; run #{committed.pk} commits it '
                      f'({committed.get_status_display().lower()}).')
    if wait:
        return finish(console, follow_run(console, committed.pk, loglevel), False)


def handle_reject(console, run_id, user, comment, **options):
    reviewer, run = get_user(user), get_run(run_id)
    reject_run(run, reviewer, comment)
    console.stderr.write(f'Rejected run #{run.pk}.')


def handle_test(console, script, user, loglevel, **options):
    user, script = get_user(user), get_script(script)
    as_json = options.get('json')
    printer = LogPrinter(console, loglevel, quiet=as_json)
    try:
        run = submit(RunRequest(
            script=script, user=user, source=RunSourceChoices.CLI, immediate=True, health_check=True,
            on_created=printer.start,
        ))
    finally:
        printer.stop()
    printer.drain(run.pk)
    return finish(console, run, as_json)


def handle_migrate_builtin(console, **options):
    migrate_builtin_cli.handle(console, get_user, **options)


def handle_sync(console, **options):
    result = sync_directory(force=True)
    if result is None:
        raise CommandError('No scripts directory is configured (setting scripts_dir).', returncode=EXIT_REFUSED)
    for kind in ('created', 'updated', 'missing'):
        for name in getattr(result, kind):
            console.stdout.write(f'{kind}: {name}')
    for name, error in result.errors.items():
        console.stderr.write(f'error: {name}: {error}')
    write_warnings(console)
    if not result.changed and not result.errors:
        console.stdout.write('No changes.')
