"""`netbox custom_scripts migrate-builtin`: the plan (default), --apply, --verify, --cleanup."""
import json

from django.core.management.base import CommandError

from . import MigrationRefused, apply_plan, build_plan, cleanup, verify
from .access import check_may_migrate
from .job import MAX_ONLY_NAMES

# Exit statuses besides 0: each says what went wrong, for scripts that run the command.
EXIT_REFUSED = 10        # no such user, no permission, unknown module, cleanup before a verified apply
EXIT_NOTHING_TO_DO = 11  # no built-in script modules (in scope)
EXIT_FAILED = 12         # apply: some module could not be moved (left as it was)
EXIT_VERIFY_FAILED = 13  # verify: something is not (yet) moved


def add_parser(commands):
    parser = commands.add_parser(
        'migrate-builtin', help="Move NetBox's built-in scripts into this plugin (default: print the plan)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--plan', dest='mode', action='store_const', const='plan', help='Print the plan (default)')
    mode.add_argument('--apply', dest='mode', action='store_const', const='apply', help='Carry out the plan')
    mode.add_argument('--verify', dest='mode', action='store_const', const='verify',
                      help='Check every built-in item against its counterpart; non-zero exit if anything is missing')
    mode.add_argument('--cleanup', dest='mode', action='store_const', const='cleanup',
                      help='After a verified apply: delete the built-in modules, disabled rules and permissions')
    parser.add_argument('--only', nargs='+', metavar='MODULE', help='Only these built-in modules')
    parser.add_argument('--history', action='store_true', help='Also import finished built-in jobs as runs')
    parser.add_argument('--discard-history', action='store_true',
                        help='Cleanup: delete finished built-in jobs that were not imported')
    parser.add_argument('--user', help='Act as this user (required by --apply and --cleanup)')
    parser.add_argument('--json', action='store_true', help='Print JSON')
    parser.set_defaults(mode='plan')


def handle(cmd, get_user, mode, only, history, discard_history, user, json: bool = False, **options):
    output_json = json
    try:
        if discard_history and mode != 'cleanup':
            raise CommandError('--discard-history goes with --cleanup only.', returncode=EXIT_REFUSED)
        if history and mode not in ('plan', 'apply'):
            raise CommandError('--history goes with --plan or --apply only.', returncode=EXIT_REFUSED)
        if only and len(only) > MAX_ONLY_NAMES:
            raise CommandError(f'--only takes at most {MAX_ONLY_NAMES} module names.', returncode=EXIT_REFUSED)
        if mode in ('apply', 'cleanup') and not user:
            raise CommandError(f'--{mode} needs --user: the user it acts as.', returncode=EXIT_REFUSED)
        # Optional for the plan and verify (the operator's own view), but checked whenever it is given.
        acting = get_user(user) if user else None
        if acting is not None:
            check_may_migrate(acting)
        if mode == 'plan':
            plan = build_plan(only=only, history=history)
            _print_plan(cmd, plan, output_json)
            if not plan.items:
                raise CommandError('There are no built-in script modules to move.', returncode=EXIT_NOTHING_TO_DO)
        elif mode == 'apply':
            def progress(done, total, message):
                if not output_json:
                    cmd.stderr.write(f'[{done}/{total}] {message}')
            result = apply_plan(acting, only=only, history=history, progress=progress)
            _print_result(cmd, result, output_json)
            if result.failed:
                raise CommandError('Not moved: ' + ', '.join(sorted(result.failed)), returncode=EXIT_FAILED)
            if not (result.moved or result.unchanged):
                raise CommandError('There are no built-in script modules to move.', returncode=EXIT_NOTHING_TO_DO)
        elif mode == 'verify':
            report = verify(only=only)
            _print_verify(cmd, report, output_json)
            if not report.ok:
                raise CommandError('Verify failed.', returncode=EXIT_VERIFY_FAILED)
        else:
            if only:
                raise CommandError('--cleanup takes no --only: it cleans up the whole verified migration.',
                                   returncode=EXIT_REFUSED)
            result = cleanup(acting, discard_history=discard_history)
            _print_json_or(cmd, result.to_dict(), output_json, _cleanup_lines(result))
    except MigrationRefused as exc:
        raise CommandError(str(exc), returncode=EXIT_REFUSED) from None


def _write_json(command, value):
    command.stdout.write(json.dumps(value, indent=2, default=str))


def _print_json_or(command, value, output_json, lines):
    if output_json:
        _write_json(command, value)
        return
    for line in lines:
        command.stdout.write(line)


def _print_plan(command, plan, output_json):
    if output_json:
        _write_json(command, plan.to_dict())
        return
    for item in plan.items:
        arrow = f' -> {item.target}' if item.target else ''
        reason = f'\n      {item.reason}' if item.reason else ''
        command.stdout.write(f'{item.action:<12} {item.builtin}{arrow}{reason}')
    summary = ', '.join(f'{action}: {count}' for action, count in sorted(plan.summary.items()))
    command.stdout.write(f'Summary: {summary or "nothing"}. ' + (
        'Run with --apply to carry it out.' if plan.can_apply else 'Nothing to apply.'))


def _print_result(command, result, output_json):
    lines = [f'moved: {name}' for name in result.moved]
    lines += [f'unchanged (already done): {name}' for name in result.unchanged]
    lines += [f'event rule {rule!r} owned by {owner}' for rule, owner in result.owners.items()]
    lines += ['Counts: ' + ', '.join(f'{key} {value}' for key, value in result.counts.items())]
    _print_json_or(command, result.to_dict(), output_json, lines)
    if not output_json:
        for name, error in result.failed.items():
            command.stderr.write(f'not moved: {name}: {error}')


def _print_verify(command, report, output_json):
    lines = [f'problem: {problem}' for problem in report.problems]
    lines.append('Verified: every built-in item has its counterpart.' if report.ok else
                 f'Verify failed: {len(report.problems)} problem(s).')
    _print_json_or(command, report.to_dict(), output_json, lines)


def _cleanup_lines(result):
    lines = [f'deleted built-in module: {name}' for name in result.modules]
    lines += [f'deleted disabled event rule: {name}' for name in result.event_rules]
    lines += [f'removed built-in permission: {name}' for name in result.permissions]
    lines += [f'kept (grants nothing on plugin scripts: not translatable, or matching no script): {name}' for name in
              result.kept_permissions]
    if result.discarded_jobs:
        lines.append(f'discarded {result.discarded_jobs} finished built-in jobs')
    return lines
