from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = (
    'EventRuleOwner',
)


class EventRuleOwner(models.Model):
    """
    Who answers for an event rule that runs a custom script: the user who last saved it (through the UI or the
    API). The rule's runs are made as this user, with their permissions, whoever's change triggers them.
    """
    event_rule = models.OneToOneField(
        to='extras.EventRule',
        on_delete=models.CASCADE,
        related_name='+',
    )
    user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )
    saved = models.DateTimeField(
        verbose_name=_('saved'),
        auto_now=True,
    )

    class Meta:
        verbose_name = _('event rule owner')
        verbose_name_plural = _('event rule owners')

    def __str__(self):
        return f'{self.event_rule}: {self.user or "?"}'
