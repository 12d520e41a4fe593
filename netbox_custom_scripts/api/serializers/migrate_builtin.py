from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ...migrate_builtin.job import MAX_MODULE_NAME_LENGTH, MAX_ONLY_NAMES
from ...migrate_builtin.plan import ACTIONS, KINDS
from .base import RejectUnknownFieldsMixin

__all__ = (
    'MigrateBuiltinApplySerializer',
    'MigrateBuiltinCleanupSerializer',
    'MigratePlanItemSerializer',
    'MigratePlanSerializer',
    'MigrateVerifySerializer',
)

def module_names_field(help_text):
    """`only`: built-in module names; leaving it out means every module (an empty list or null does not)."""
    return serializers.ListField(
        child=serializers.CharField(max_length=MAX_MODULE_NAME_LENGTH), required=False, default=None,
        allow_empty=False, max_length=MAX_ONLY_NAMES, help_text=help_text,
    )


class MigrateBuiltinApplySerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../migrate-builtin/ takes."""
    only = module_names_field(_('Move only these built-in modules (by name); leave out to move every module'))
    history = serializers.BooleanField(
        required=False, default=False, help_text=_('Also import the completed built-in jobs as read-only runs'),
    )


class MigrateBuiltinCleanupSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../migrate-builtin/cleanup/ takes (nothing, usually)."""
    only = module_names_field(_('Clean up only these built-in modules (by name); leave out for every module'))
    discard_history = serializers.BooleanField(
        required=False, default=False,
        help_text=_('Delete finished built-in jobs that were not imported (apply with history imports them)'),
    )


# The serializers below only describe the responses in the OpenAPI schema: the plan is the core's to_dict().

class MigratePlanItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    builtin = serializers.CharField(help_text=_('What it is on the built-in side'))
    builtin_id = serializers.IntegerField(allow_null=True)
    module = serializers.CharField(allow_null=True, help_text=_('The built-in module it belongs to'))
    action = serializers.ChoiceField(choices=ACTIONS)
    target = serializers.CharField(help_text=_('What it becomes in the plugin'))
    reason = serializers.CharField(help_text=_('Why it cannot be moved, or a note'))


class MigratePlanSerializer(serializers.Serializer):
    items = MigratePlanItemSerializer(many=True)
    summary = serializers.DictField(child=serializers.IntegerField(), help_text=_('Items by action'))
    can_apply = serializers.BooleanField()


class MigrateVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
