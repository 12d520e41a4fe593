"""Moving a NetBox installation off the built-in custom scripts (``extras.ScriptModule``).

The agreed interface (the CLI, the web page, the REST endpoints and the background job all use only this):

    plan = build_plan(only=None, history=False)       # changes nothing
    result = apply_plan(user, only=None, history=False, progress=None)
    report = verify(only=None)
    done = cleanup(user)
    may_migrate(user) -> bool
    MigrationRefused

See docs/migration.md for what each step does and how to roll back.
"""


class MigrationRefused(Exception):
    """The migration was refused (user without the right, cleanup before a verified apply, unknown module...).

    Nothing was changed when this is raised."""


def build_plan(only=None, history=False):
    raise NotImplementedError


def apply_plan(user, only=None, history=False, progress=None):
    raise NotImplementedError


def verify(only=None):
    raise NotImplementedError


def cleanup(user):
    raise NotImplementedError


def may_migrate(user):
    raise NotImplementedError


__all__ = ['MigrationRefused', 'apply_plan', 'build_plan', 'cleanup', 'may_migrate', 'verify']
