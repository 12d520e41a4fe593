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
from django.core.management.base import BaseCommand, CommandError

from ...cli import commands
from ...cli.arguments import add_arguments
from ...cli.errors import EXIT_CODES, EXIT_REFUSED, describe_error
from ...execution import InputError, PermissionDenied, RunRefused, hard_stop_exit, set_in_process_hard_stop

__all__ = (
    'Command',
    'EXIT_CODES',
    'EXIT_REFUSED',
)


class Command(BaseCommand):
    help = 'List, run and inspect custom scripts (netbox-custom-scripts).'
    requires_system_checks = []

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        handler = getattr(commands, f'handle_{options["command"].replace("-", "_")}')
        # A script run here that will not stop after its time limit or a cancel is stopped hard: this process
        # then exits with the run's exit status (its record and log are written first).
        set_in_process_hard_stop(hard_stop_exit(
            code=lambda run: EXIT_CODES.get(run.status, 1),
            message=lambda run: f'Run #{run.pk}: {run.get_status_display()}: {run.error}',
        ))
        try:
            return handler(self, **options)
        except CommandError:
            raise
        except (InputError, RunRefused, PermissionDenied) as exc:
            raise CommandError(describe_error(exc), returncode=EXIT_REFUSED)
        finally:
            set_in_process_hard_stop(None)
