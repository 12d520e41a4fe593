from netbox.api.fields import ChoiceField, RelatedObjectCountField
from netbox.api.serializers import NetBoxModelSerializer
from rest_framework import serializers

from ..choices import ModuleSourceChoices, ModuleStatusChoices
from ..models import Script, ScriptModule

__all__ = (
    'ScriptModuleSerializer',
    'ScriptSerializer',
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


class ScriptSerializer(NetBoxModelSerializer):
    module = ScriptModuleSerializer(nested=True, read_only=True)
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Script
        fields = (
            'id', 'url', 'display_url', 'display', 'module', 'class_name', 'full_name', 'name', 'description',
            'is_active', 'meta', 'variables', 'tags', 'custom_fields', 'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'full_name', 'name', 'description')
        read_only_fields = ('class_name', 'name', 'description', 'is_active', 'meta', 'variables')
