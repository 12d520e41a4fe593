import django_tables2 as tables
from django.utils.translation import gettext_lazy as _
from netbox.tables import NetBoxTable, columns

from .models import Schedule, Script, ScriptModule, ScriptRun

__all__ = (
    'ScheduleTable',
    'ScriptModuleTable',
    'ScriptRunTable',
    'ScriptTable',
)


class ScriptModuleTable(NetBoxTable):
    name = tables.Column(verbose_name=_('Name'), linkify=True)
    display_name = tables.Column(verbose_name=_('Display name'))
    source = columns.ChoiceFieldColumn(verbose_name=_('Source'))
    status = columns.ChoiceFieldColumn(verbose_name=_('Status'))
    error = tables.Column(verbose_name=_('Error'))
    current_revision = tables.Column(verbose_name=_('Revision'), accessor='current_revision__number')
    script_count = tables.Column(verbose_name=_('Scripts'))
    tags = columns.TagColumn(url_name='plugins:netbox_custom_scripts:scriptmodule_list')
    actions = columns.ActionsColumn(actions=('delete', 'changelog'))

    class Meta(NetBoxTable.Meta):
        model = ScriptModule
        fields = (
            'pk', 'id', 'name', 'display_name', 'source', 'file_path', 'status', 'error', 'error_line',
            'current_revision', 'script_count', 'description', 'tags', 'created', 'last_updated',
        )
        default_columns = ('pk', 'name', 'display_name', 'source', 'status', 'current_revision', 'script_count')


class ScriptTable(NetBoxTable):
    name = tables.Column(verbose_name=_('Name'), linkify=True)
    module = tables.Column(verbose_name=_('Module'), linkify=True)
    class_name = tables.Column(verbose_name=_('Class'))
    description = columns.MarkdownColumn(verbose_name=_('Description'))
    is_active = columns.BooleanColumn(verbose_name=_('Active'))
    tags = columns.TagColumn(url_name='plugins:netbox_custom_scripts:script_list')
    actions = columns.ActionsColumn(actions=('changelog',))

    class Meta(NetBoxTable.Meta):
        model = Script
        fields = (
            'pk', 'id', 'name', 'module', 'class_name', 'description', 'is_active', 'weight', 'tags', 'created',
            'last_updated',
        )
        default_columns = ('pk', 'name', 'module', 'description')


class ScriptRunTable(NetBoxTable):
    id = tables.Column(verbose_name=_('Run'), linkify=True)
    script_name = tables.Column(verbose_name=_('Script'), linkify=lambda record: record.get_absolute_url())
    status = columns.ChoiceFieldColumn(verbose_name=_('Status'))
    commit = columns.BooleanColumn(verbose_name=_('Commit'))
    user = tables.Column(verbose_name=_('User'))
    source = columns.ChoiceFieldColumn(verbose_name=_('Started from'))
    created = columns.DateTimeColumn(verbose_name=_('Created'), timespec='seconds')
    started = columns.DateTimeColumn(verbose_name=_('Started'), timespec='seconds')
    completed = columns.DateTimeColumn(verbose_name=_('Completed'), timespec='seconds')
    branch_name = tables.Column(verbose_name=_('Branch'))
    actions = columns.ActionsColumn(actions=('delete',))

    class Meta(NetBoxTable.Meta):
        model = ScriptRun
        fields = (
            'pk', 'id', 'script_name', 'status', 'commit', 'user', 'source', 'queue', 'created', 'scheduled_at',
            'started', 'completed', 'change_count', 'error', 'content_hash', 'branch_name', 'branch_staged',
        )
        default_columns = (
            'pk', 'id', 'script_name', 'status', 'commit', 'branch_name', 'user', 'source', 'created', 'completed',
        )


class ScheduleTable(NetBoxTable):
    name = tables.Column(verbose_name=_('Name'), linkify=True)
    script = tables.Column(verbose_name=_('Script'), linkify=True)
    user = tables.Column(verbose_name=_('Runs as'))
    enabled = columns.BooleanColumn(verbose_name=_('Enabled'))
    commit = columns.BooleanColumn(verbose_name=_('Commit'))
    next_run_at = columns.DateTimeColumn(verbose_name=_('Next run'), timespec='minutes')
    tags = columns.TagColumn(url_name='plugins:netbox_custom_scripts:schedule_list')

    class Meta(NetBoxTable.Meta):
        model = Schedule
        fields = (
            'pk', 'id', 'name', 'script', 'user', 'enabled', 'commit', 'start_at', 'interval', 'cron', 'next_run_at',
            'error', 'description', 'tags', 'created', 'last_updated', 'branch_name',
        )
        default_columns = (
            'pk', 'name', 'script', 'user', 'enabled', 'commit', 'branch_name', 'interval', 'cron', 'next_run_at',
        )
