from django.utils.translation import gettext_lazy as _
from netbox.plugins import PluginMenu, PluginMenuButton, PluginMenuItem

menu = PluginMenu(
    label=_('Custom Scripts'),
    icon_class='mdi mdi-script-text-outline',
    groups=(
        (_('Scripts'), (
            PluginMenuItem(
                link='plugins:netbox_custom_scripts:script_list',
                link_text=_('Scripts'),
                permissions=['netbox_custom_scripts.view_script'],
            ),
            PluginMenuItem(
                link='plugins:netbox_custom_scripts:scriptrun_list',
                link_text=_('Runs'),
                permissions=['netbox_custom_scripts.view_scriptrun'],
            ),
            PluginMenuItem(
                link='plugins:netbox_custom_scripts:schedule_list',
                link_text=_('Schedules'),
                permissions=['netbox_custom_scripts.view_schedule'],
                buttons=(
                    PluginMenuButton(
                        link='plugins:netbox_custom_scripts:schedule_add',
                        title=_('Add'),
                        icon_class='mdi mdi-plus-thick',
                        permissions=['netbox_custom_scripts.add_schedule'],
                    ),
                ),
            ),
            PluginMenuItem(
                link='plugins:netbox_custom_scripts:scriptmodule_list',
                link_text=_('Modules'),
                permissions=['netbox_custom_scripts.view_scriptmodule'],
                buttons=(
                    PluginMenuButton(
                        link='plugins:netbox_custom_scripts:scriptmodule_add',
                        title=_('Upload'),
                        icon_class='mdi mdi-upload',
                        permissions=['netbox_custom_scripts.add_scriptmodule'],
                    ),
                ),
            ),
            # Shown to superusers and to holders of the `migrate` action (what may_migrate() allows).
            PluginMenuItem(
                link='plugins:netbox_custom_scripts:migrate_builtin',
                link_text=_('Move from built-in scripts'),
                permissions=['netbox_custom_scripts.migrate_scriptmodule'],
            ),
        )),
    ),
)
