from netbox.api.fields import ChoiceField, RelatedObjectCountField
from netbox.api.serializers import NetBoxModelSerializer
from rest_framework import serializers

from ...choices import ModuleSourceChoices, ModuleStatusChoices
from ...models import ScriptModule

__all__ = (
    'ScriptModuleSerializer',
)


class ScriptModuleSerializer(NetBoxModelSerializer):
    source = ChoiceField(choices=ModuleSourceChoices, read_only=True)
    status = ChoiceField(choices=ModuleStatusChoices, read_only=True)
    revision = serializers.IntegerField(source='current_revision.number', read_only=True, allow_null=True)
    content_hash = serializers.CharField(read_only=True)
    script_count = RelatedObjectCountField('scripts')

    class Meta:
        model = ScriptModule
        fields = (
            'id', 'url', 'display_url', 'display', 'name', 'display_name', 'source', 'file_path', 'status', 'error',
            'error_line', 'revision', 'content_hash', 'description', 'script_count', 'tags', 'custom_fields',
            'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'name', 'display_name', 'status')
