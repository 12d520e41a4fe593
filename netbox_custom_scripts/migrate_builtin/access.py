"""Who may move the built-in scripts, and the refusal that changes nothing."""
from django.utils.translation import gettext as _
from netbox.authentication import ObjectPermissionBackend

__all__ = ('MigrationRefused', 'check_may_migrate', 'may_migrate')

MIGRATE_PERMISSION = 'netbox_custom_scripts.migrate_scriptmodule'
# Held for the whole of an apply or cleanup: a second one started meanwhile waits, then finds everything done.
LOCK_ID = 'netbox_custom_scripts.migrate-builtin'


class MigrationRefused(Exception):
    """The migration (or its cleanup) was refused: nothing was changed."""


def may_migrate(user):
    """
    Superusers, and users granted the `migrate` action on script modules by an ObjectPermission without
    constraints: moving works on the whole installation, so a constraint (which cannot say what it would limit)
    grants nothing rather than everything.
    """
    if user is None or not getattr(user, 'is_authenticated', False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not user.has_perm(MIGRATE_PERMISSION):
        return False
    granted = ObjectPermissionBackend().get_all_permissions(user).get(MIGRATE_PERMISSION, ())
    return any(not constraints for constraints in granted)


def check_may_migrate(user):
    if not may_migrate(user):
        raise MigrationRefused(_(
            '{user} may not move the built-in scripts: it takes a superuser or the "migrate" action on script '
            'modules (netbox_custom_scripts.scriptmodule).'
        ).format(user=getattr(user, 'username', None) or _('An anonymous user')))
