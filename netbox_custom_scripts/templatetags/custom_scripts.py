import re
import threading

from django import template
from django.utils.safestring import mark_safe
from markdown import Markdown
from netbox.config import get_config
from utilities.html import clean_html

register = template.Library()


def _markdown_without_html():
    md = Markdown(extensions=['fenced_code', 'def_list', 'tables'])
    # Raw HTML in a message is shown as text, never rendered: script output is untrusted.
    md.preprocessors.deregister('html_block')
    md.inlinePatterns.deregister('html')
    return md


_converters = threading.local()  # a Markdown instance is not thread-safe; building one costs more than converting

# One line of words, digits and punctuation that Markdown leaves alone (no emphasis, link, code, escape, HTML or
# entity character; not a list item, heading, rule or code block): it renders as itself in a paragraph.
_PLAIN = re.compile(r"(?:[^\W_]|[ ,.:;=/()'\"?%@$+\-])*")
_BLOCK_START = re.compile(r'\d+[.)] |[-+] |-+$|=+$| ')


def is_plain(text):
    return bool(_PLAIN.fullmatch(text)) and not _BLOCK_START.match(text) and not text.endswith(' ')


def _converted(text):
    md = getattr(_converters, 'markdown', None)
    if md is None:
        md = _converters.markdown = _markdown_without_html()
    try:
        return md.convert(text)
    finally:
        md.reset()


@register.filter(is_safe=True)
def script_markdown(value):
    """Markdown from a script (log lines, descriptions): formatting kept, HTML shown as text, result sanitised."""
    if not value:
        return ''
    text = str(value)
    if is_plain(text):
        return mark_safe(f'<p>{text}</p>')  # what Markdown and the sanitiser would make of it, at a fraction
    return mark_safe(clean_html(_converted(text), get_config().ALLOWED_URL_SCHEMES))
