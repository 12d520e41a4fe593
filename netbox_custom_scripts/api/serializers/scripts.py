from django.utils.translation import gettext_lazy as _
from netbox.api.fields import ChoiceField
from netbox.api.serializers import NetBoxModelSerializer
from rest_framework import serializers

from ...choices import HealthChoices
from ...models import Script
from .modules import ScriptModuleSerializer

__all__ = (
    'CustomScriptSerializer',
    'ScriptSerializer',
)


class CustomScriptSerializer(NetBoxModelSerializer):
    module = ScriptModuleSerializer(nested=True, read_only=True)
    full_name = serializers.CharField(read_only=True)
    health = ChoiceField(choices=HealthChoices, read_only=True)
    warnings = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text=_("What NetBox tolerates in the script's Meta or variables but its author should fix"),
    )

    class Meta:
        model = Script
        fields = (
            'id', 'url', 'display_url', 'display', 'module', 'class_name', 'full_name', 'name', 'description',
            'is_active', 'meta', 'variables', 'warnings', 'health', 'health_checked', 'tags', 'custom_fields',
            'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'full_name', 'name', 'description')
        read_only_fields = (
            'class_name', 'name', 'description', 'is_active', 'meta', 'variables', 'health', 'health_checked',
        )


# The name NetBox looks a model's serializer up by (see modules.py).
ScriptSerializer = CustomScriptSerializer
