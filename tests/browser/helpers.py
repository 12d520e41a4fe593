"""Plain helpers of the browser tests: users who can log in with a password, and logging in."""
from ..utils import make_user


def set_test_password(user):
    """Give `user` the password the browser types: '<username>-password-1'."""
    user.set_password(f'{user.username}-password-1')
    user.save()
    return user


def user_with_password(username, *permissions, is_superuser=False):
    return set_test_password(make_user(username, *permissions, is_superuser=is_superuser))


def login(page, live_server, username, password):
    page.goto(f'{live_server.url}/login/')
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_load_state('networkidle')
