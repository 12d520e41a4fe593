import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.models import ChangeLoggedModel
from netbox.models.features import NotificationsMixin
from utilities.querysets import RestrictedQuerySet

from ..choices import (
    NotificationChoices,
    RunSourceChoices,
    RunStatusChoices,
)
from .run_log import RunLog

__all__ = (
    'ScriptRun',
)


class ScriptRun(NotificationsMixin, ChangeLoggedModel):
    """
    One execution of a script: who started it and how, its inputs (secret values masked), the module revision it
    ran, its status, progress, log, output, files and the object changes it made (or, for a dry run, would make).
    """
    script = models.ForeignKey(
        to='netbox_custom_scripts.Script',
        on_delete=models.SET_NULL,
        related_name='runs',
        blank=True,
        null=True,
    )
    script_name = models.CharField(
        verbose_name=_('script'),
        max_length=400,
        help_text=_('`module.Class` at the time of the run (kept if the script is deleted)'),
    )
    revision = models.ForeignKey(
        to='netbox_custom_scripts.ModuleRevision',
        on_delete=models.SET_NULL,
        related_name='runs',
        blank=True,
        null=True,
    )
    content_hash = models.CharField(
        verbose_name=_('content hash'),
        max_length=64,
        blank=True,
    )
    job = models.ForeignKey(
        to='core.Job',
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    source = models.CharField(
        verbose_name=_('started from'),
        max_length=20,
        choices=RunSourceChoices,
    )
    request_id = models.UUIDField(
        verbose_name=_('request ID'),
        default=uuid.uuid4,
        editable=False,
        help_text=_('Change-log request ID of the changes this run makes'),
    )
    inputs = models.JSONField(
        verbose_name=_('inputs'),
        default=dict,
        blank=True,
        help_text=_('Input values as submitted (secret values masked, files by name and size)'),
    )
    commit = models.BooleanField(
        verbose_name=_('commit'),
        default=False,
    )
    queue = models.CharField(
        verbose_name=_('queue'),
        max_length=100,
        blank=True,
    )
    job_timeout = models.PositiveIntegerField(
        verbose_name=_('timeout'),
        blank=True,
        null=True,
        help_text=_('Seconds'),
    )
    notifications = models.CharField(
        verbose_name=_('notifications'),
        max_length=20,
        choices=NotificationChoices,
        default=NotificationChoices.ALWAYS,
    )
    status = models.CharField(
        verbose_name=_('status'),
        max_length=20,
        choices=RunStatusChoices,
        default=RunStatusChoices.PENDING,
        db_index=True,
    )
    scheduled_at = models.DateTimeField(
        verbose_name=_('scheduled'),
        blank=True,
        null=True,
    )
    started = models.DateTimeField(
        verbose_name=_('started'),
        blank=True,
        null=True,
    )
    completed = models.DateTimeField(
        verbose_name=_('completed'),
        blank=True,
        null=True,
    )
    heartbeat = models.DateTimeField(
        verbose_name=_('heartbeat'),
        blank=True,
        null=True,
        editable=False,
        help_text=_('Last sign of life from the worker running it'),
    )
    progress_done = models.FloatField(blank=True, null=True)
    progress_total = models.FloatField(blank=True, null=True)
    progress_message = models.CharField(max_length=500, blank=True)
    log_counts = models.JSONField(
        verbose_name=_('log counts'),
        default=dict,
        blank=True,
        help_text=_('Number of log lines per level'),
    )
    change_count = models.PositiveIntegerField(
        verbose_name=_('changes'),
        default=0,
    )
    output = models.TextField(
        verbose_name=_('output'),
        blank=True,
    )
    output_format = models.CharField(
        max_length=10,
        default='text',
        help_text=_('"text", or "json" when run() returned a dict or a list'),
    )
    error = models.TextField(
        verbose_name=_('error'),
        blank=True,
    )
    traceback = models.TextField(
        verbose_name=_('traceback'),
        blank=True,
    )
    cancel_requested = models.DateTimeField(
        verbose_name=_('cancel requested'),
        blank=True,
        null=True,
    )
    event = models.JSONField(
        verbose_name=_('event'),
        encoder=DjangoJSONEncoder,
        blank=True,
        null=True,
        help_text=_('For runs started by an event rule: the event type, the object and its before/after snapshots'),
    )
    rerun_of = models.ForeignKey(
        to='self',
        on_delete=models.SET_NULL,
        related_name='reruns',
        blank=True,
        null=True,
    )
    schedule = models.ForeignKey(
        to='netbox_custom_scripts.Schedule',
        on_delete=models.SET_NULL,
        related_name='runs',
        blank=True,
        null=True,
    )
    health_check = models.BooleanField(
        verbose_name=_('health check'),
        default=False,
        help_text=_("A run of the script's own tests, in a transaction that is always rolled back"),
    )
    # Approval: the requester's committed run first runs dry; a reviewer approves (starting `approved_run`, a
    # committed run with the same inputs) or rejects it.
    approval_requested = models.BooleanField(
        verbose_name=_('approval requested'),
        default=False,
        help_text=_('A dry run whose commit waits for approval'),
    )
    reviewed_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    reviewed = models.DateTimeField(
        verbose_name=_('reviewed'),
        blank=True,
        null=True,
    )
    review_comment = models.TextField(
        verbose_name=_('review comment'),
        blank=True,
    )
    approval_of = models.OneToOneField(
        to='self',
        on_delete=models.SET_NULL,
        related_name='approved_run',
        blank=True,
        null=True,
        help_text=_('The reviewed dry run this committed run carries out'),
    )
    # netbox-branching: the branch the run executed in. An ID and a name, not a foreign key: the plugin works
    # without branching installed, and a run's record outlives its branch (merged, archived or deleted).
    branch_id = models.PositiveBigIntegerField(
        verbose_name=_('branch ID'),
        blank=True,
        null=True,
        db_index=True,
    )
    branch_name = models.CharField(
        verbose_name=_('branch'),
        max_length=100,
        blank=True,
        help_text=_('The netbox-branching branch the run executed in (empty: main)'),
    )
    branch_staged = models.BooleanField(
        verbose_name=_('staged in a new branch'),
        default=False,
        help_text=_('The run provisioned its branch and committed its changes there, for review and merge'),
    )
    # A finished job of NetBox's built-in scripts, copied here by `migrate-builtin --history`: read-only.
    imported_job_id = models.PositiveBigIntegerField(
        verbose_name=_('imported from job'),
        blank=True,
        null=True,
        unique=True,
        editable=False,
        help_text=_("ID of the built-in scripts' job this run was imported from"),
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ('-created', '-pk')
        indexes = (
            models.Index(fields=('script', '-created'), name='nbcs_run_script_created'),
            models.Index(fields=('status', 'heartbeat'), name='nbcs_run_status_heartbeat'),
        )
        permissions = (
            ('cancel', 'Cancel a queued or running run'),
        )
        constraints = (
            models.CheckConstraint(
                condition=~models.Q(approval_requested=True, commit=True),
                name='%(app_label)s_%(class)s_approval_request_is_dry',
            ),
        )
        verbose_name = _('script run')
        verbose_name_plural = _('script runs')

    def __str__(self):
        return f'{self.script_name} #{self.pk}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_custom_scripts:scriptrun', args=[self.pk])

    def get_status_color(self):
        return RunStatusChoices.colors.get(self.status)

    @property
    def log_entries(self):
        """The run's log lines, oldest first (a RunLog: iterate it, slice it, count() it, or filter it with RunLog's
        arguments)."""
        return RunLog(self.pk)

    @property
    def in_branch(self):
        return self.branch_id is not None

    @property
    def is_active(self):
        return self.status in RunStatusChoices.ACTIVE

    @property
    def awaiting_approval(self):
        return self.status == RunStatusChoices.AWAITING_APPROVAL

    @property
    def duration(self):
        if self.started and self.completed:
            return self.completed - self.started
        return None

    @property
    def progress_percent(self):
        if self.progress_total:
            return max(0, min(100, round(100 * (self.progress_done or 0) / self.progress_total)))
        return None


