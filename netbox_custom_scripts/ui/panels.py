import difflib

from django.utils.translation import gettext_lazy as _
from netbox.ui import attrs, panels


class ScriptModulePanel(panels.ObjectAttributesPanel):
    title = _('Script module')
    name = attrs.TextAttr('name', style='font-monospace')
    display_name = attrs.TextAttr('display_name', label=_('Display name'))
    source = attrs.ChoiceAttr('source')
    file_path = attrs.TextAttr('file_path', label=_('File path'), style='font-monospace')
    status = attrs.ChoiceAttr('status')
    error = attrs.TextAttr('error', style='font-monospace')
    error_line = attrs.NumericAttr('error_line', label=_('Error line'))
    revision = attrs.NumericAttr('current_revision.number', label=_('Revision'))
    content_hash = attrs.TextAttr('content_hash', label=_('SHA256 hash'), style='font-monospace', copy_button=True)
    description = attrs.TextAttr('description')


class PendingRevisionPanel(panels.Panel):
    """New code from a module's data source that waits for someone who may change the module: its diff, and Activate."""
    title = _('Pending revision')
    template_name = 'netbox_custom_scripts/scriptmodule/pending.html'

    def get_context(self, context):
        ctx = super().get_context(context)
        module = ctx['object']
        pending = module.pending_revision
        ctx['pending'] = pending
        if pending is not None:
            current = module.current_revision
            ctx['diff'] = '\n'.join(difflib.unified_diff(
                current.source_code.splitlines() if current else [], pending.source_code.splitlines(),
                fromfile=f'r{current.number}' if current else 'none', tofile=f'r{pending.number}', lineterm='',
            ))
            request = ctx.get('request')
            ctx['can_activate'] = request is not None and request.user.has_perm(
                'netbox_custom_scripts.change_scriptmodule', module
            )
        return ctx

    def should_render(self, context):
        return context.get('pending') is not None


class WarningsPanel(panels.Panel):
    """
    What NetBox tolerates in a module or script but its author should fix (Meta options NetBox ignores, classes the
    plugin left out and why, no scripts found): shown, never silent.
    """
    title = _('Warnings')
    template_name = 'netbox_custom_scripts/inc/warnings.html'

    def get_context(self, context):
        ctx = super().get_context(context)
        ctx['warnings'] = getattr(ctx['object'], 'warnings', None) or []
        return ctx

    def should_render(self, context):
        return bool(context['warnings'])
