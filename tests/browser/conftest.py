"""
Browser tests: Debian's Chromium driven by Playwright, against a live NetBox (this test database) with a real RQ
worker. Screenshots of each page go to tests/artifacts/screenshots/.
"""
import os
import shutil

import pytest

from .helpers import set_test_password

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'artifacts', 'screenshots')
CHROMIUM = os.environ.get('NBCS_CHROMIUM', '/usr/bin/chromium')

# Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make are still synchronous.
os.environ.setdefault('DJANGO_ALLOW_ASYNC_UNSAFE', 'true')


@pytest.fixture(scope='package')
def browser():
    """
    One Chromium for the browser tests, closed when they end: while Playwright's loop is alive this thread counts
    as async, and later tests (GraphQL's sync execution, the ORM) would refuse to run.
    """
    if not shutil.which(CHROMIUM):
        pytest.skip(f'Chromium not found at {CHROMIUM}: apt-get install chromium (make test installs it as root)')
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    os.makedirs(ARTIFACTS, exist_ok=True)

    def take(name):
        page.screenshot(path=os.path.join(ARTIFACTS, f'{name}.png'), full_page=True)
    return take


@pytest.fixture
def admin(admin):
    """The shared admin, with a password to log in with ('admin-password-1')."""
    return set_test_password(admin)
