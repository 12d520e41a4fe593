"""What the authoring API asks of the rest of the plugin (scripting/netbox_api.services), installed in ready()."""
from .forms.run import script_run_form
from .models import ScriptModule
from .scripting.netbox_api import services

__all__ = (
    'install_scripting_services',
)


def module_and_script(module_name, script_name):
    """(ScriptModule, Script) records, as NetBox's get_module_and_script() returns its own."""
    module = ScriptModule.objects.get(name=module_name)
    return module, module.scripts.get(class_name=script_name)


def install_scripting_services():
    services.module_and_script = module_and_script
    services.run_form = script_run_form
