"""A "Run script" button on the pages of objects that scripts declare they act on (Meta.object_types)."""
from netbox.plugins import PluginTemplateExtension

from .models import Script

__all__ = (
    'template_extensions',
)


def object_variable(script, label):
    """The first object variable of the script that takes this kind of object (it gets pre-filled)."""
    for variable in script.variables:
        if variable.get('model') == label:
            return variable['name']
    return None


class RunScriptButtons(PluginTemplateExtension):
    # Rendered on every object page: which scripts apply is data (their Meta.object_types), not configuration.
    models = None

    def buttons(self):
        obj = self.context.get('object')
        request = self.context.get('request')
        meta = getattr(obj, '_meta', None)
        if obj is None or meta is None or request is None or not getattr(obj, 'pk', None):
            return ''
        if not request.user.is_authenticated:
            return ''
        label = meta.label_lower
        scripts = [
            (script, object_variable(script, label))
            for script in Script.objects.restrict(request.user, 'run').filter(
                is_active=True, meta__object_types__contains=[label]
            ).select_related('module').order_by('name')
        ]
        if not scripts:
            return ''
        return self.render('netbox_custom_scripts/inc/run_script_buttons.html', extra_context={
            'scripts': scripts,
            'target': obj,
        })


template_extensions = (RunScriptButtons,)
