from collections import defaultdict

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _
from extras.api.customfields import CustomFieldListSerializer
from extras.models import TaggedItem
from netbox.api.fields import ChoiceField
from netbox.api.serializers import NestedTagSerializer, NetBoxModelSerializer
from rest_framework import serializers

from ...choices import HealthChoices
from ...models import Script
from .modules import ScriptModuleSerializer

__all__ = (
    'CustomScriptSerializer',
    'ScriptSerializer',
)


class ScriptListSerializer(CustomFieldListSerializer):
    """Attaches the tags of every script on the page, read with one query, before each is serialised."""

    def to_representation(self, data):
        scripts = list(data.all() if hasattr(data, 'all') else data)
        tags = defaultdict(list)
        if scripts:
            items = TaggedItem.objects.filter(
                content_type=ContentType.objects.get_for_model(Script), object_id__in=[s.pk for s in scripts]
            ).select_related('tag').order_by('tag__name')
            for item in items:
                tags[item.object_id].append(item.tag)
        for script in scripts:
            script._prefetched_tags = tags[script.pk]
        return super().to_representation(scripts)


class CustomScriptSerializer(NetBoxModelSerializer):
    module = ScriptModuleSerializer(nested=True, read_only=True)
    full_name = serializers.CharField(read_only=True)
    health = ChoiceField(choices=HealthChoices, read_only=True)
    # Read from a list ScriptListSerializer attaches: Django's prefetch into taggit's manager builds a queryset per
    # script, which cost half of a 200-script list.
    tags = NestedTagSerializer(source='listed_tags', many=True, read_only=True)
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
        list_serializer_class = ScriptListSerializer
        read_only_fields = (
            'class_name', 'name', 'description', 'is_active', 'meta', 'variables', 'health', 'health_checked',
        )


# The name NetBox looks a model's serializer up by (see modules.py).
ScriptSerializer = CustomScriptSerializer
