from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from netbox.models import NetBoxModel
from netbox.models.features import JobsMixin
from utilities.querysets import RestrictedQuerySet

from ..choices import HealthChoices

__all__ = (
    'Script',
)


class ScriptQuerySet(RestrictedQuerySet):

    def listed_for(self, user):
        """What script lists show `user`: active scripts, without Meta.hidden ones unless they may change scripts."""
        queryset = self.filter(is_active=True)
        if not user.has_perm('netbox_custom_scripts.change_script'):
            queryset = queryset.exclude(meta__hidden=True)
        return queryset

    def get_by_reference(self, reference):
        """
        The script `reference` names: a Script record itself, or 'module.Class' (the module's dotted name, then the
        class). Raises Script.DoesNotExist, saying which name was not found. The one lookup the CLI, the REST API,
        nbshell and event rules share.
        """
        if isinstance(reference, self.model):
            return reference
        module, __, class_name = str(reference).rpartition('.')
        script = self.select_related('module').filter(module__name=module, class_name=class_name).first()
        if script is None:
            raise self.model.DoesNotExist(_('No script named {name!r}.').format(name=str(reference)))
        return script


class Script(JobsMixin, NetBoxModel):
    """
    One Script class of a module, kept in step with the module's current revision. A class that disappears is
    soft-deleted (is_active=False) so its run history stays; it comes back when the class returns.
    """
    module = models.ForeignKey(
        to='netbox_custom_scripts.ScriptModule',
        on_delete=models.CASCADE,
        related_name='scripts',
    )
    class_name = models.CharField(
        verbose_name=_('class name'),
        max_length=200,
    )
    name = models.CharField(
        verbose_name=_('name'),
        max_length=200,
    )
    description = models.TextField(
        verbose_name=_('description'),
        blank=True,
    )
    weight = models.PositiveIntegerField(
        verbose_name=_('weight'),
        default=0,
        help_text=_("Position within the module (from the module's script_order, then alphabetical)"),
    )
    is_active = models.BooleanField(
        verbose_name=_('active'),
        default=True,
        help_text=_('False once the class is no longer present in its module'),
    )
    meta = models.JSONField(
        verbose_name=_('meta'),
        default=dict,
        blank=True,
        help_text=_("The script's Meta options as loaded from its current revision"),
    )
    health = models.CharField(
        verbose_name=_('health'),
        max_length=20,
        choices=HealthChoices,
        default=HealthChoices.UNKNOWN,
        help_text=_("Result of the script's own tests (test_* methods) at their last run"),
    )
    health_checked = models.DateTimeField(
        verbose_name=_('health checked'),
        blank=True,
        null=True,
    )
    variables = models.JSONField(
        verbose_name=_('variables'),
        default=list,
        blank=True,
        help_text=_("Description of the script's input variables"),
    )
    # Problems stock NetBox tolerates in this class (unknown Meta options, stale field_order entries...).
    warnings = models.JSONField(
        verbose_name=_('warnings'),
        default=list,
        blank=True,
        editable=False,
    )

    objects = ScriptQuerySet.as_manager()

    class Meta:
        ordering = ('module__name', 'weight', 'name')
        constraints = (
            models.UniqueConstraint(fields=('module', 'class_name'), name='%(app_label)s_%(class)s_unique_class'),
        )
        permissions = (
            ('run', 'Run script'),
            ('commit', 'Commit runs without approval (where the script requires the permission)'),
            ('approve', "Approve or reject others' runs"),
        )
        verbose_name = _('script')
        verbose_name_plural = _('scripts')

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse('plugins:netbox_custom_scripts:script', args=[self.pk])

    def get_health_color(self):
        return HealthChoices.colors.get(self.health)

    @property
    def listed_tags(self):
        """The script's tags: as the API's list serializer attached them (one query per page), else queried."""
        prefetched = getattr(self, '_prefetched_tags', None)
        return prefetched if prefetched is not None else list(self.tags.all())

    @property
    def full_name(self):
        """`module.Class`, the name used by the CLI, nbshell and the API."""
        return f'{self.module.name}.{self.class_name}'
