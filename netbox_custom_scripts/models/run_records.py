"""What a run leaves behind besides its record and its log (run_log.py): the object changes it made (or would have),
its files."""

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from utilities.querysets import RestrictedQuerySet
from utilities.views import get_viewname

from ..choices import ChangeActionChoices

__all__ = (
    'RunChange',
    'RunFile',
)


def object_url(object_type, object_id):
    """The page of the object `object_id` of `object_type`, or '' when its model has none."""
    model = object_type.model_class()
    if model is None:
        return ''
    try:
        return reverse(get_viewname(model), args=[object_id])
    except NoReverseMatch:
        return ''


class RunChange(models.Model):
    """An object a run created, updated or deleted - or, for a dry run, would have."""
    run = models.ForeignKey(
        to='netbox_custom_scripts.ScriptRun',
        on_delete=models.CASCADE,
        related_name='changes',
    )
    time = models.DateTimeField()
    action = models.CharField(max_length=10, choices=ChangeActionChoices)
    object_type = models.ForeignKey(
        to=ContentType,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    object_id = models.PositiveBigIntegerField(blank=True, null=True)
    object_repr = models.CharField(max_length=200)
    prechange_data = models.JSONField(blank=True, null=True)
    postchange_data = models.JSONField(blank=True, null=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ('run', 'id')
        verbose_name = _('run change')
        verbose_name_plural = _('run changes')

    def __str__(self):
        return f'{self.get_action_display()} {self.object_repr}'

    def get_action_color(self):
        return ChangeActionChoices.colors.get(self.action)

    @property
    def diff(self):
        """(removed, added): the attributes that differ between before and after."""
        before = self.prechange_data or {}
        after = self.postchange_data or {}
        keys = sorted(set(before) | set(after))
        removed = {k: before.get(k) for k in keys if before.get(k) != after.get(k) and k in before}
        added = {k: after.get(k) for k in keys if before.get(k) != after.get(k) and k in after}
        return removed, added

    @property
    def diff_rows(self):
        """(attribute, before, after) for each attribute that changed; empty values of a new object are left out."""
        before = self.prechange_data or {}
        after = self.postchange_data or {}
        rows = []
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            if old == new or (self.action == 'create' and new in (None, '', [], {})):
                continue
            rows.append((key, old, new))
        return rows

    @property
    def link_key(self):
        return (self.object_type_id, self.object_id)

    @property
    def url(self):
        """The object's page (if it exists: see the views), resolved when shown."""
        if self.object_type_id is None or self.object_id is None:
            return ''
        return object_url(self.object_type, self.object_id)


class RunFile(models.Model):
    """A file a script attached to its run with save_file()."""
    run = models.ForeignKey(
        to='netbox_custom_scripts.ScriptRun',
        on_delete=models.CASCADE,
        related_name='files',
    )
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default='application/octet-stream')
    size = models.PositiveBigIntegerField()
    content = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ('run', 'id')
        verbose_name = _('run file')
        verbose_name_plural = _('run files')

    def __str__(self):
        return self.name
