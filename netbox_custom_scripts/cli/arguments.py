"""The command line of `netbox custom_scripts`: its subcommands and their options."""


import argparse

from ..execution import run_options
from ..migrate_builtin import cli as migrate_builtin_cli
from .errors import LOGLEVELS

DATA_HELP = 'a JSON object, @file with the JSON, or @- to read the JSON from standard input'


def add_run_options(parser):
    """`--<name>` for every declared run option (execution.RunOption); left out, the core decides."""
    group = parser.add_argument_group('run options')
    for name, option in run_options():
        flag = '--' + name.replace('_', '-')
        if option.kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=option.help)
        else:
            group.add_argument(flag, dest=name, type=option.kind, default=None, help=option.help,
                               choices=[value for value, __ in option.choices] or None)


def run_option_values(options):
    """The declared run options the command line gave."""
    return {name: options[name] for name, __ in run_options() if options.get(name) is not None}


def add_arguments(parser):
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
    placement = run.add_mutually_exclusive_group()
    placement.add_argument('--branch', metavar='NAME', help='netbox-branching: run inside this branch (name or ID)')
    placement.add_argument('--new-branch', metavar='NAME', dest='new_branch',
                           help='netbox-branching: create this branch, and commit the changes there for review')
    add_run_options(run)

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
    add_run_options(rerun)

    apply = commands.add_parser('apply', help='Apply a dry run: run it again, committing, with the same inputs')
    apply.add_argument('run_id', type=int)
    apply.add_argument('--user', required=True)
    apply.add_argument('--data', default='{}', help=f'Secret or file inputs to give again: {DATA_HELP}. On a '
                       'terminal, secrets left out are asked for without echo')
    apply.add_argument('--loglevel', choices=list(LOGLEVELS), default='info')
    apply.add_argument('--json', action='store_true')
    add_run_options(apply)

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
