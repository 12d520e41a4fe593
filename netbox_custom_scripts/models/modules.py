import hashlib
import os

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.models import NetBoxModel
from netbox.models.features import SyncedDataMixin
from netbox.plugins import get_plugin_config
from utilities.querysets import RestrictedQuerySet

from ..choices import ModuleSourceChoices, ModuleStatusChoices
from ..signals import module_data_changed

__all__ = (
    'ModuleRevision',
    'ScriptModule',
)


def content_hash(source):
    """The identity of a module revision: SHA-256 of its source text."""
    return hashlib.sha256(source.encode('utf-8')).hexdigest()


class ScriptModule(SyncedDataMixin, NetBoxModel):
    """
    A Python module holding Script classes. Its code lives in ModuleRevision rows, so every worker runs exactly the
    revision a run was dispatched with, whichever host it is on.
    """
    name = models.CharField(
        verbose_name=_('name'),
        max_length=200,
        unique=True,
        help_text=_('Dotted module path, e.g. "provisioning" or "branches.access"'),
    )
    display_name = models.CharField(
        verbose_name=_('display name'),
        max_length=200,
        blank=True,
        help_text=_("The module's own `name` attribute, if it sets one"),
    )
    source = models.CharField(
        verbose_name=_('source'),
        max_length=30,
        choices=ModuleSourceChoices,
    )
    file_path = models.CharField(
        verbose_name=_('file path'),
        max_length=1000,
        help_text=_('Path of the source file, relative to its source root'),
    )
    current_revision = models.ForeignKey(
        to='netbox_custom_scripts.ModuleRevision',
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    status = models.CharField(
        verbose_name=_('status'),
        max_length=30,
        choices=ModuleStatusChoices,
        default=ModuleStatusChoices.OK,
    )
    error = models.TextField(
        verbose_name=_('error'),
        blank=True,
        help_text=_('Why the current revision could not be loaded'),
    )
    error_line = models.PositiveIntegerField(
        verbose_name=_('error line'),
        blank=True,
        null=True,
    )
    description = models.CharField(
        verbose_name=_('description'),
        max_length=200,
        blank=True,
    )
    # A data-source module's new code whose origin no one with the `change` permission vouched for waits here,
    # not imported, until such a user activates it (see execution/sources/data_file.py).
    pending_revision = models.ForeignKey(
        to='netbox_custom_scripts.ModuleRevision',
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
        editable=False,
        help_text=_('New code from the data source, waiting to be activated by someone who may change the module'),
    )
    # The data source configuration someone who may change the module vouched for (a keyed hash), and since when:
    # file content fetched under it after that time may become the module's code without review.
    source_trust = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
    )
    source_trusted_since = models.DateTimeField(
        blank=True,
        null=True,
        editable=False,
    )

    # What stock NetBox tolerates in the module but a strict check would refuse: shown on the module page, in the
    # API and in `sync` output, so an author can clean it up.
    warnings = models.JSONField(
        verbose_name=_('warnings'),
        default=list,
        blank=True,
        editable=False,
    )

    clone_fields = ('source',)

    class Meta:
        ordering = ('name',)
        permissions = (
            ('sync', 'Sync modules from the scripts directory'),
            ('migrate', "Move NetBox's built-in scripts into this plugin"),
        )
        verbose_name = _('script module')
        verbose_name_plural = _('script modules')

    def __str__(self):
        return self.display_name or self.name

    def get_absolute_url(self):
        return reverse('plugins:netbox_custom_scripts:scriptmodule', args=[self.pk])

    def get_source_color(self):
        return ModuleSourceChoices.colors.get(self.source)

    def get_status_color(self):
        return ModuleStatusChoices.colors.get(self.status)

    @property
    def content_hash(self):
        return self.current_revision.content_hash if self.current_revision else ''

    @property
    def is_runnable(self):
        return self.status == ModuleStatusChoices.OK and self.current_revision_id is not None

    @property
    def data_root(self):
        """The directory load_yaml()/load_json() read from: the scripts directory the module came from."""
        if self.source == ModuleSourceChoices.DIRECTORY:
            return get_plugin_config('netbox_custom_scripts', 'scripts_dir')
        if self.source == ModuleSourceChoices.UPLOAD:
            return settings.SCRIPTS_ROOT
        return None

    def sync_data(self):
        # NetBox calls this when the module's Data Source file changed (SyncedDataMixin); the core answers.
        module_data_changed.send(sender=type(self), module=self)

    @property
    def module_dir(self):
        return os.path.dirname(self.file_path) if self.source == ModuleSourceChoices.DIRECTORY else ''


class ModuleRevision(models.Model):
    """One immutable version of a module's source. Runs record the revision they executed."""
    module = models.ForeignKey(
        to=ScriptModule,
        on_delete=models.CASCADE,
        related_name='revisions',
    )
    number = models.PositiveIntegerField(
        verbose_name=_('number'),
    )
    content_hash = models.CharField(
        verbose_name=_('content hash'),
        max_length=64,
    )
    source_code = models.TextField(
        verbose_name=_('source code'),
    )
    created = models.DateTimeField(
        verbose_name=_('created'),
        auto_now_add=True,
    )
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ('module', '-number')
        constraints = (
            models.UniqueConstraint(fields=('module', 'number'), name='%(app_label)s_%(class)s_unique_number'),
        )
        verbose_name = _('module revision')
        verbose_name_plural = _('module revisions')

    def __str__(self):
        return f'{self.module} r{self.number}'

    @property
    def short_hash(self):
        return self.content_hash[:12]
