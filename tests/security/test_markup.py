"""
Contract: what a script's author writes is shown, never run, in the pages the plugin renders (the browser suite
checks the same in Chromium): a variable's description - rendered as HTML by NetBox's form templates - is
sanitised like log Markdown (harmless markup kept, scripts and event handlers removed); an object a script logs
becomes a link only when its URL is http(s) or relative (never javascript:, data:, vbscript:, however spelled).
"""
import pytest
from django.test import Client
from rest_framework.test import APIClient

from netbox_custom_scripts.scripting.log import safe_link
from netbox_custom_scripts.testing import run_script_in_transaction

from ..utils import token_header
from .helpers import API, register_fixture

pytestmark = pytest.mark.django_db


def test_a_variable_description_is_sanitised(admin):
    script = register_fixture('markup', 'markup.py').scripts.get(class_name='Described')
    client = Client()
    client.force_login(admin)
    page = client.get(script.get_absolute_url()).content.decode()
    form = page[page.index('id="run-form"'):]
    assert '<script>alert("description")' not in form and 'onerror' not in form
    assert '<b>bold stays</b>' in form  # harmless markup is kept, as NetBox users write it
    assert 'Who &lt;i&gt;label&lt;/i&gt;' in form  # labels are text


def test_only_web_urls_become_links(admin):
    module = register_fixture('markup', 'markup.py')
    namespace = {}
    exec(module.current_revision.source_code, namespace)
    run = run_script_in_transaction(namespace['Links'], user=admin)
    entries = {entry.object_repr: entry for entry in run.log_entries}
    unsafe, safe = namespace['UNSAFE_URLS'], namespace['SAFE_URLS']
    for index, url in enumerate(unsafe):
        assert entries[f'thing-{index}'].object_url == '' and entries[f'thing-{index}'].url == '', url
    for index, url in enumerate(safe, start=len(unsafe)):
        assert entries[f'thing-{index}'].url == url

    client = Client()
    client.force_login(admin)
    log = client.get(f'/plugins/custom-scripts/runs/{run.pk}/log/').content.decode().lower()
    for scheme in ('javascript:', 'data:', 'vbscript:', 'java\tscript:'):
        assert f'href="{scheme}' not in log and 'href=" javascript' not in log
    assert 'href="https://example.com/ok"' in log

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token_header(admin))
    urls = {line['object_repr']: line['object_url'] for line in api.get(f'{API}/runs/{run.pk}/log/').json()['results']}
    assert all(urls[f'thing-{index}'] == '' for index in range(len(unsafe)))


@pytest.mark.parametrize('url', [
    'javascript:alert(1)', 'JAVASCRIPT:alert(1)', '\x01javascript:alert(1)', 'java\nscript:alert(1)',
    'data:text/html;base64,PHNjcmlwdD4=', 'vbscript:x', 'file:///etc/passwd',
    'http://[::1', 'mailto:x@example.com',
])
def test_unsafe_schemes_are_dropped(url):
    assert safe_link(url) == ''


@pytest.mark.parametrize('url', ['https://example.com/a?b=c', 'http://example.com', '/dcim/sites/1/', 'x/y', '#top'])
def test_web_and_relative_urls_are_kept(url):
    assert safe_link(url) == url


def test_plain_log_lines_skip_markdown_and_render_exactly_as_markdown_would():
    """
    The log page renders most lines without Markdown (a plain line of words and punctuation is its own paragraph):
    every line the shortcut takes must come out as Markdown and the sanitiser make it, and every line with a
    character that could be markup must still go through them.
    """
    import random

    from netbox.config import get_config
    from utilities.html import clean_html

    from netbox_custom_scripts.templatetags.custom_scripts import _converted, is_plain, script_markdown

    rng = random.Random(7)
    alphabet = "abcXYZ019 ,.:;=/()'\"?%@$+-_*`[]<>&#!~|\\\n\tü日"
    samples = [''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    samples += ['1. item', '- item', '+ item', '---', '===', '    code', 'trailing  ', '<script>x</script>',
                '&amp;', 'a_b_', '**bold**', '[x](javascript:alert(1))', 'Created site ams-1 (id 5)']
    shortcut = 0
    for text in samples:
        through_markdown = clean_html(_converted(text), get_config().ALLOWED_URL_SCHEMES)
        assert str(script_markdown(text)) == (f'<p>{text}</p>' if is_plain(text) else through_markdown)
        if is_plain(text):
            shortcut += 1
            assert through_markdown == f'<p>{text}</p>', text
            assert not set(text) & set('_*`[]<>&#!~|\\\n\t')
    assert shortcut > 100  # the shortcut is taken for real lines, not only in theory
