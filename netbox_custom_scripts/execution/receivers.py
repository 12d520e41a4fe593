"""
Every signal receiver of the plugin, connected once from ready(). Each one hands the event to the core function
that owns it; models and adapters send signals and call no engine code themselves.
"""
from core.models import DataSource
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from extras.models import EventRule

from ..choices import RunStatusChoices
from ..models import Schedule, ScriptModule
from ..signals import module_data_changed, run_finished, schedule_deleting
from .approvals import notify_reviewers
from .dispatch import cancel_run
from .rule_owners import record_rule_owner
from .schedules import queue_next_occurrence
from .sources.data_file import remember_data_source_origin, review_data_source_change, sync_from_data_file
from .sources.storage import forget_deleted_module

__all__ = ()


@receiver(run_finished, dispatch_uid='netbox_custom_scripts.receivers.run_finished_approvals')
def run_finished_approvals(sender, run, **kwargs):
    notify_reviewers(run)


@receiver(run_finished, dispatch_uid='netbox_custom_scripts.receivers.run_finished_schedules')
def run_finished_schedules(sender, run, **kwargs):
    queue_next_occurrence(run)


@receiver(schedule_deleting, sender=Schedule, dispatch_uid='netbox_custom_scripts.receivers.schedule_deleting')
def cancel_queued_runs_of_deleted_schedule(sender, schedule, **kwargs):
    """A deleted schedule makes no more runs: its queued one is cancelled (past runs keep their record)."""
    for run in schedule.runs.filter(status__in=RunStatusChoices.WAITING):
        cancel_run(run, None)


@receiver(module_data_changed, sender=ScriptModule, dispatch_uid='netbox_custom_scripts.receivers.module_data')
def module_data_file_changed(sender, module, **kwargs):
    sync_from_data_file(module)


@receiver(post_delete, sender=ScriptModule, dispatch_uid='netbox_custom_scripts.sources.module_deleted')
def module_deleted(sender, instance, **kwargs):
    forget_deleted_module(instance)


@receiver(pre_save, sender=DataSource, dispatch_uid='netbox_custom_scripts.sources.data_source_saving')
def data_source_saving(sender, instance, **kwargs):
    remember_data_source_origin(instance)


@receiver(post_save, sender=DataSource, dispatch_uid='netbox_custom_scripts.sources.data_source_saved')
def data_source_saved(sender, instance, created, **kwargs):
    review_data_source_change(instance, created)


@receiver(post_save, sender=EventRule, dispatch_uid='netbox_custom_scripts.event_rules.rule_saved')
def event_rule_saved(sender, instance, **kwargs):
    record_rule_owner(instance)
