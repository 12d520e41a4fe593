"""Helpers shared by the tests: users with NetBox object permissions, API tokens, the CLI in this process."""
import io

from core.models import ObjectType
from django.core.management import CommandError, call_command
from users.models import ObjectPermission, Token, User


def make_user(username, *permissions, is_superuser=False):
    """
    A user with ObjectPermissions. Each permission is (model class, actions) or (model class, actions, constraints).
    """
    user = User.objects.create_user(username=username, password='pw-' + username, is_superuser=is_superuser)
    for index, permission in enumerate(permissions):
        model, actions, *constraints = permission
        grant = ObjectPermission.objects.create(
            name=f'{username}-{index}',
            actions=list(actions),
            constraints=constraints[0] if constraints else None,
        )
        grant.object_types.add(ObjectType.objects.get_for_model(model))
        grant.users.add(user)
    return user


def token_header(user):
    token = Token(user=user, description='test')
    token.full_clean()
    token.save()
    return token.get_auth_header_prefix() + token.token


def cli(*args):
    """Run `netbox custom_scripts` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command('custom_scripts', *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    except CommandError as exc:
        status = exc.returncode
        err.write(str(exc))
    return status, out.getvalue(), err.getvalue()
