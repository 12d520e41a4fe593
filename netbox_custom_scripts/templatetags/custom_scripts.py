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


@register.filter(is_safe=True)
def script_markdown(value):
    """Markdown from a script (log lines, descriptions): formatting kept, HTML shown as text, result sanitised."""
    if not value:
        return ''
    md = _markdown_without_html()
    html = md.convert(str(value))
    return mark_safe(clean_html(html, get_config().ALLOWED_URL_SCHEMES))
