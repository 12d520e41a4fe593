from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.models import NetBoxModel

from ..choices import NotificationChoices
from ..cron import cron_errors, interval_errors
from ..signals import schedule_deleting

__all__ = (
    'Schedule',
)


class Schedule(NetBoxModel):
    """
    A script run that repeats (every N minutes, or on a cron expression) or happens once at a set time. Each
    occurrence is a NetBox job scheduled on RQ and becomes its own ScriptRun.
    """
    name = models.CharField(
        verbose_name=_('name'),
        max_length=200,
    )
    script = models.ForeignKey(
        to='netbox_custom_scripts.Script',
        on_delete=models.CASCADE,
        related_name='schedules',
    )
    user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name='+',
        help_text=_('Runs are made as this user, with their permissions'),
    )
    inputs = models.JSONField(
        verbose_name=_('inputs'),
        default=dict,
        blank=True,
    )
    health_check = models.BooleanField(
        verbose_name=_('health check'),
        default=False,
        help_text=_("Run the script's own tests (always rolled back) instead of the script"),
    )
    commit = models.BooleanField(
        verbose_name=_('commit'),
        default=False,
    )
    notifications = models.CharField(
        verbose_name=_('notifications'),
        max_length=20,
        choices=NotificationChoices,
        default=NotificationChoices.ALWAYS,
    )
    start_at = models.DateTimeField(
        verbose_name=_('start at'),
        blank=True,
        null=True,
        help_text=_('First occurrence (default: now)'),
    )
    interval = models.PositiveIntegerField(
        verbose_name=_('interval'),
        blank=True,
        null=True,
        validators=(MinValueValidator(1),),
        help_text=_('Repeat every this many minutes'),
    )
    cron = models.CharField(
        verbose_name=_('cron'),
        max_length=100,
        blank=True,
        help_text=_('Repeat on this cron expression (minute hour day month weekday), in UTC'),
    )
    # netbox-branching: the branch every occurrence runs in (see ScriptRun.branch_id).
    branch_id = models.PositiveBigIntegerField(
        verbose_name=_('branch ID'),
        blank=True,
        null=True,
    )
    branch_name = models.CharField(
        verbose_name=_('branch'),
        max_length=100,
        blank=True,
        help_text=_('Run in this netbox-branching branch (empty: main)'),
    )
    enabled = models.BooleanField(
        verbose_name=_('enabled'),
        default=True,
        help_text=_('A paused schedule keeps its settings but makes no runs'),
    )
    next_run_at = models.DateTimeField(
        verbose_name=_('next run'),
        blank=True,
        null=True,
        editable=False,
    )
    job = models.ForeignKey(
        to='core.Job',
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
        editable=False,
    )
    error = models.TextField(
        verbose_name=_('error'),
        blank=True,
        editable=False,
        help_text=_('Why the last attempt to queue a run failed, if it did'),
    )
    description = models.CharField(
        verbose_name=_('description'),
        max_length=200,
        blank=True,
    )

    class Meta:
        ordering = ('name', 'pk')
        verbose_name = _('schedule')
        verbose_name_plural = _('schedules')

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse('plugins:netbox_custom_scripts:schedule', args=[self.pk])

    def delete(self, *args, **kwargs):
        # A deleted schedule makes no more runs: the core cancels its queued one (past runs keep their record).
        schedule_deleting.send(sender=type(self), schedule=self)
        return super().delete(*args, **kwargs)

    @property
    def is_recurring(self):
        return bool(self.interval or self.cron)

    def clean(self):
        super().clean()
        if self.interval and self.cron:
            raise ValidationError(_('Set an interval or a cron expression, not both.'))
        if self.cron:
            if errors := cron_errors(self.cron):
                raise ValidationError({'cron': errors})
        if self.interval is not None:
            if errors := interval_errors(self.interval):
                raise ValidationError({'interval': errors})
