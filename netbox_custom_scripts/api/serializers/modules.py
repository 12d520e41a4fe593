from core.api.serializers_.data import DataFileSerializer, DataSourceSerializer
from core.models import DataFile, DataSource
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from netbox.api.fields import ChoiceField, RelatedObjectCountField
from netbox.api.serializers import NetBoxModelSerializer
from rest_framework import serializers
from users.api.serializers_.users import UserSerializer

from ...choices import ModuleSourceChoices, ModuleStatusChoices
from ...execution import (
    authoriser,
    check_replaceable,
    prepare_data_file,
    prepare_upload,
    register_data_file,
    register_upload,
    replace_source,
)
from ...models import ModuleRevision, ScriptModule
from .base import RejectUnknownFieldsMixin

__all__ = (
    'ActivateRequestSerializer',
    'ModuleRevisionSerializer',
    'ModuleRevisionSourceSerializer',
    'CustomScriptModuleSerializer',
    'ScriptModuleSerializer',
)

# Inputs that are not model fields: the sources layer consumes them.
_SOURCE_INPUTS = ('source_code', 'file', 'data_source', 'data_file', 'auto_sync_enabled')


def _api_error(exc):
    """A Django ValidationError from the sources layer as a 400 response with per-field messages."""
    if hasattr(exc, 'error_dict'):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({'source_code': exc.messages})


class CustomScriptModuleSerializer(RejectUnknownFieldsMixin, NetBoxModelSerializer):
    """
    A script module. Created from `source_code` (text, e.g. JSON), `file` (a multipart upload) or `data_file` (a
    NetBox DataFile, with `auto_sync_enabled`); `name` defaults to the file name. An update may replace an uploaded
    module's source (`source_code` or `file`), which becomes a new revision when it changed.
    """
    name = serializers.CharField(max_length=200, required=False)
    source = ChoiceField(choices=ModuleSourceChoices, read_only=True)
    status = ChoiceField(choices=ModuleStatusChoices, read_only=True)
    revision = serializers.IntegerField(source='current_revision.number', read_only=True, allow_null=True)
    pending_revision = serializers.IntegerField(
        source='pending_revision.number', read_only=True, allow_null=True,
        help_text=_('New code from the data source that waits to be activated (POST .../activate/)'),
    )
    content_hash = serializers.CharField(read_only=True)
    script_count = RelatedObjectCountField('scripts')
    source_code = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False,
        help_text=_('The module source as text (instead of `file`)'),
    )
    file = serializers.FileField(
        write_only=True, required=False,
        help_text=_('The module source as an uploaded .py file (multipart; instead of `source_code`)'),
    )
    data_source = DataSourceSerializer(nested=True, required=False, allow_null=True)
    data_file = DataFileSerializer(nested=True, required=False, allow_null=True)
    auto_sync_enabled = serializers.BooleanField(required=False)
    warnings = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text=_('What NetBox tolerates but the module should fix: classes left out and why, no scripts found'),
    )

    class Meta:
        model = ScriptModule
        fields = (
            'id', 'url', 'display_url', 'display', 'name', 'display_name', 'source', 'file_path', 'status', 'error',
            'error_line', 'warnings', 'revision', 'pending_revision', 'content_hash', 'description', 'script_count',
            'source_code', 'file', 'data_source', 'data_file', 'data_path', 'auto_sync_enabled', 'data_synced', 'tags',
            'custom_fields', 'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'name', 'display_name', 'status')
        read_only_fields = ('display_name', 'file_path', 'error', 'error_line', 'data_path', 'data_synced')

    def validate(self, data):
        if self.nested:
            return super().validate(data)
        inputs = {key: data.pop(key) for key in _SOURCE_INPUTS if key in data}
        changelog_message = data.pop('changelog_message', None)
        if self.instance is None:
            source, file_path = self._validate_new(data, inputs)
            # The model needs these to validate; the sources layer sets them when it saves.
            data.update(source=source, file_path=file_path)
            data = super().validate(data)
            data.pop('source')
            data.pop('file_path')
        else:
            self._validate_change(data, inputs)
            data = self._validate_without_sync(data)
        data.update(inputs)
        if changelog_message is not None:
            data['changelog_message'] = changelog_message
        return data

    def _validate_new(self, data, inputs):
        data_source, data_file = inputs.get('data_source'), inputs.get('data_file')
        try:
            if data_source is not None or data_file is not None:
                if inputs.get('source_code') or inputs.get('file') is not None:
                    raise DjangoValidationError({'data_file': [
                        _('Give either a data file or the source (source_code or file), not both.')
                    ]})
                if data_file is None:
                    raise DjangoValidationError({'data_file': [_('Choose the data file of the module.')]})
                self._check_data_file_visible(data_file, data_source)
                if data_source is not None and data_file.source_id != data_source.pk:
                    raise DjangoValidationError({'data_file': [
                        _('This file does not belong to data source {source}.').format(source=data_source)
                    ]})
                prepared = prepare_data_file(data_file, data.get('name'))
                data['name'] = prepared.name
                return ModuleSourceChoices.DATA_SOURCE, prepared.file_path
            if inputs.get('auto_sync_enabled'):
                raise DjangoValidationError({'auto_sync_enabled': [
                    _('Only a module from a data file can be synced automatically.')
                ]})
            prepared = prepare_upload(data.get('name'), inputs.get('source_code'), inputs.get('file'))
        except DjangoValidationError as exc:
            raise _api_error(exc)
        data['name'] = prepared.name
        return ModuleSourceChoices.UPLOAD, prepared.file_path

    def _check_data_file_visible(self, data_file, data_source):
        """As in the web form: a module is made only from a data file (and source) the user may view."""
        user = self._user()
        if user is None:
            return
        if data_source is not None and not DataSource.objects.restrict(user, 'view').filter(pk=data_source.pk).exists():
            raise DjangoValidationError({'data_source': [_('No data source with ID {id} that you may view.').format(
                id=data_source.pk
            )]})
        if not DataFile.objects.restrict(user, 'view').filter(pk=data_file.pk).exists() or not (
            DataSource.objects.restrict(user, 'view').filter(pk=data_file.source_id).exists()
        ):
            raise DjangoValidationError({'data_file': [_('No data file with ID {id} that you may view.').format(
                id=data_file.pk
            )]})

    def _validate_change(self, data, inputs):
        module = self.instance
        errors = {}
        if 'name' in data and data['name'] != module.name:
            errors['name'] = [_('A module cannot be renamed: upload it under the new name and delete this one.')]
        for key in ('data_source', 'data_file'):
            if key in inputs and getattr(inputs[key], 'pk', None) != getattr(module, f'{key}_id'):
                errors[key] = [_("A module's data source and file cannot be changed.")]
        if inputs.get('auto_sync_enabled') and module.source != ModuleSourceChoices.DATA_SOURCE:
            errors['auto_sync_enabled'] = [_('Only a module from a data file can be synced automatically.')]
        if inputs.get('source_code') or inputs.get('file') is not None:
            try:
                check_replaceable(module, 'source_code' if inputs.get('file') is None else 'file')
                prepare_upload(source_code=inputs.get('source_code'), file=inputs.get('file'), module=module)
            except DjangoValidationError as exc:
                errors.update(_api_error(exc).detail)
        if errors:
            raise serializers.ValidationError(errors)

    def _validate_without_sync(self, data):
        # Model validation of a data-source module (SyncedDataMixin.clean) would re-sync it from its file while the
        # request is only validated; the data-source fields are set aside meanwhile.
        module = self.instance
        kept = {key: getattr(module, key) for key in ('data_source', 'data_file', 'data_path', 'data_synced')}
        kept['auto_sync_enabled'] = module.auto_sync_enabled
        module.data_file = None
        try:
            return super().validate(data)
        finally:
            for key, value in kept.items():
                setattr(module, key, value)

    def _user(self):
        request = self.context.get('request')
        return request.user if request is not None and request.user.is_authenticated else None

    def create(self, validated_data):
        inputs = {key: validated_data.pop(key) for key in _SOURCE_INPUTS if key in validated_data}
        tags = validated_data.pop('tags', None)
        add_tags = validated_data.pop('add_tags', None)
        validated_data.pop('remove_tags', None)
        changelog_message = validated_data.pop('changelog_message', None)
        module = ScriptModule(**validated_data)
        module._changelog_message = changelog_message

        def save_tags(module):
            if tags is not None:
                self._save_tags(module, tags)
            elif add_tags:
                module.tags.add(*[tag.name for tag in add_tags])

        # The user's `add` permission is checked on the saved module, tags included, before its code is imported.
        authorise = authoriser(self._user(), 'add', before=save_tags)
        try:
            if inputs.get('data_file') is not None:
                module = register_data_file(
                    inputs['data_file'], name=module.name, user=self._user(),
                    auto_sync_enabled=bool(inputs.get('auto_sync_enabled')), module=module, authorise=authorise,
                )
            else:
                module = register_upload(
                    module.name, inputs.get('source_code'), file=inputs.get('file'), user=self._user(),
                    module=module, authorise=authorise,
                )
        except DjangoValidationError as exc:
            raise _api_error(exc)
        if self._user() is None:
            save_tags(module)
        return module

    def update(self, instance, validated_data):
        inputs = {key: validated_data.pop(key) for key in _SOURCE_INPUTS if key in validated_data}
        validated_data.pop('name', None)
        if 'auto_sync_enabled' in inputs and instance.source == ModuleSourceChoices.DATA_SOURCE:
            validated_data['auto_sync_enabled'] = inputs['auto_sync_enabled'] and instance.data_file_id is not None
        instance = super().update(instance, validated_data)
        if inputs.get('source_code') or inputs.get('file') is not None:
            try:
                replace_source(instance, inputs.get('source_code'), file=inputs.get('file'), user=self._user(),
                                       authorise=authoriser(self._user(), 'change'))
            except DjangoValidationError as exc:
                raise _api_error(exc)
        return instance


class ActivateRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """What POST .../modules/<id>/activate/ takes: the number of the pending revision the user reviewed."""
    revision = serializers.IntegerField(min_value=1, help_text=_('The pending revision to activate, as reviewed'))


class ModuleRevisionSerializer(serializers.ModelSerializer):
    """One revision of a module: its number, SHA-256 of the source, author and date."""
    created_by = UserSerializer(nested=True, read_only=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = ModuleRevision
        fields = ('id', 'number', 'content_hash', 'is_current', 'created', 'created_by')

    def get_is_current(self, revision) -> bool:
        return revision.pk == revision.module.current_revision_id


class ModuleRevisionSourceSerializer(ModuleRevisionSerializer):
    """A revision with its source code."""

    class Meta(ModuleRevisionSerializer.Meta):
        fields = (*ModuleRevisionSerializer.Meta.fields, 'source_code')


# The name NetBox looks a model's serializer up by; the class is named apart from NetBox's own ScriptModuleSerializer
# so the two do not collide in the OpenAPI schema.
ScriptModuleSerializer = CustomScriptModuleSerializer
