from core.models import DataFile, DataSource
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from netbox.forms import NetBoxModelForm
from utilities.exceptions import AbortRequest
from utilities.forms.fields import DynamicModelChoiceField
from utilities.forms.rendering import FieldSet

from ..choices import ModuleSourceChoices
from ..execution import (
    authoriser,
    check_syntax,
    prepare_data_file,
    prepare_upload,
    register_data_file,
    register_upload,
    replace_source,
)
from ..models import ScriptModule

__all__ = (
    'ScriptModuleDataSourceForm',
    'ScriptModuleEditForm',
    'ScriptModuleSourceForm',
    'ScriptModuleUploadForm',
)

CODE_EXECUTION_WARNING = _(
    "Uploading a module runs its code on the NetBox server, with NetBox's access to the database and the network: "
    'when it is saved and whenever its scripts run. Only upload code you trust.'
)

# Names of the inputs of the sources layer -> names of this module's form fields
_UPLOAD_FIELDS = {'file': 'upload_file', 'source_code': 'source_code', 'name': 'name'}
_DATA_FILE_FIELDS = {'data_file': 'data_file', 'name': 'name'}


def _add_errors(form, exc, fields):
    for key, messages in exc.message_dict.items():
        form.add_error(fields.get(key), messages)


def _abort(form, exc, fields):
    """
    Raised from save(): the edit view shows it on the form and rolls the transaction back. A module's code is imported
    only in save(), once the user is authorised, so its import errors are put on the field at fault here.
    """
    if isinstance(exc, ValidationError) and hasattr(exc, 'error_dict'):
        _add_errors(form, exc, fields)
        return AbortRequest(_('The module was not saved: see the errors below.'))
    return AbortRequest(' '.join(exc.messages) if isinstance(exc, ValidationError) else str(exc))


class _SyncFieldsUntouched:
    """
    Model validation of a ScriptModule runs SyncedDataMixin.clean(), which re-syncs a data-source module from its
    file. A form only validates: the sources layer registers sources when the form is saved. The data-source fields
    are set aside while the model is validated and put back afterwards.
    """
    _sync_fields = ('data_source', 'data_file', 'data_path', 'auto_sync_enabled', 'data_synced')

    def _post_clean(self):
        kept = {field: getattr(self.instance, field) for field in self._sync_fields}
        self.instance.data_file = None
        try:
            super()._post_clean()
        finally:
            for field, value in kept.items():
                setattr(self.instance, field, value)


def _editing_user(instance):
    return getattr(instance, '_editing_user', None)


def _normalise_newlines(text):
    # Browsers send textarea content with CRLF line ends.
    return text.replace('\r\n', '\n') if text else text


class _AuthoriseBeforeImport:
    """The user's object permission is checked on the module as saved, tags included, before its code is imported."""

    def _authoriser(self, action):
        return authoriser(_editing_user(self.instance), action, before=lambda module: self._save_m2m())


class ScriptModuleSourceForm(_AuthoriseBeforeImport, _SyncFieldsUntouched, NetBoxModelForm):
    """Source as a file upload or as text typed into the editor (one of the two)."""
    upload_file = forms.FileField(
        label=_('File'),
        required=False,
        help_text=CODE_EXECUTION_WARNING,
    )
    source_code = forms.CharField(
        label=_('Source code'),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={
            'class': 'font-monospace', 'rows': 24, 'spellcheck': 'false', 'autocapitalize': 'off',
            'autocomplete': 'off', 'wrap': 'off',
        }),
        help_text=_('Or type the module here instead of uploading a file.'),
    )

    def _source_inputs(self):
        data = self.cleaned_data
        return data.get('upload_file') or None, _normalise_newlines(data.get('source_code')) or None


class ScriptModuleUploadForm(ScriptModuleSourceForm):
    """A new module from an uploaded file or from text."""
    name = forms.CharField(
        label=_('Name'),
        required=False,
        max_length=200,
        help_text=_('Dotted module path, e.g. "provisioning" or "branches.access". Defaults to the file name '
                    'without ".py".'),
    )

    fieldsets = (
        FieldSet('upload_file', 'source_code', name=_('Source')),
        FieldSet('name', 'description', 'tags', name=_('Module')),
    )

    class Meta:
        model = ScriptModule
        fields = ('name', 'description', 'tags')

    def clean(self):
        super().clean()
        if self.errors:
            return self.cleaned_data
        upload, source_code = self._source_inputs()
        try:
            self.prepared = prepare_upload(self.cleaned_data.get('name') or None, source_code, upload)
            # Compiled, not imported: importing runs the module's code, which waits until the user is authorised.
            check_syntax(self.prepared, 'file' if upload else 'source_code')
        except ValidationError as exc:
            _add_errors(self, exc, _UPLOAD_FIELDS)
            return self.cleaned_data
        self.cleaned_data['name'] = self.prepared.name
        return self.cleaned_data

    def save(self, commit=True):
        upload, source_code = self._source_inputs()
        try:
            module = register_upload(
                self.cleaned_data['name'], source_code, file=upload, user=_editing_user(self.instance),
                module=self.instance, authorise=self._authoriser('add'),
            )
        except (ValidationError, PermissionDenied) as exc:
            raise _abort(self, exc, _UPLOAD_FIELDS)
        self._save_m2m()
        return module


class ScriptModuleEditForm(ScriptModuleSourceForm):
    """
    Change a module. An uploaded module's source can be replaced (a changed source becomes a new revision); a
    directory or data-source module takes its source from its file, so only its other attributes change here.
    """
    auto_sync_enabled = forms.BooleanField(
        label=_('Auto sync enabled'),
        required=False,
        help_text=_('Sync the module every time its data source is synced'),
    )

    class Meta:
        model = ScriptModule
        fields = ('description', 'tags')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        module = self.instance
        if module.source == ModuleSourceChoices.UPLOAD:
            self.fieldsets = (
                FieldSet('upload_file', 'source_code', name=_('Source')),
                FieldSet('description', 'tags', name=_('Module')),
            )
            self.fields['upload_file'].help_text = f"{_('Replaces the source.')} {CODE_EXECUTION_WARNING}"
            if module.current_revision and not self.is_bound:
                self.initial['source_code'] = module.current_revision.source_code
        else:
            del self.fields['upload_file']
            del self.fields['source_code']
            if module.source == ModuleSourceChoices.DATA_SOURCE:
                self.initial.setdefault('auto_sync_enabled', module.auto_sync_enabled)
                self.fieldsets = (FieldSet('description', 'tags', 'auto_sync_enabled', name=_('Module')),)
            else:
                del self.fields['auto_sync_enabled']
                self.fieldsets = (FieldSet('description', 'tags', name=_('Module')),)

    def _new_source(self):
        """(file, text) to register, or (None, None) when the source is to stay as it is."""
        if 'source_code' not in self.fields:
            return None, None
        upload, source_code = self._source_inputs()
        current = self.instance.current_revision
        if current is not None and source_code == _normalise_newlines(current.source_code):
            source_code = None  # the editor sent back the current source
        return upload, source_code

    def clean(self):
        super().clean()
        if self.errors:
            return self.cleaned_data
        upload, source_code = self._new_source()
        if upload is None and source_code is None:
            return self.cleaned_data
        try:
            prepared = prepare_upload(source_code=source_code, file=upload, module=self.instance)
            check_syntax(prepared, 'file' if upload else 'source_code')
        except ValidationError as exc:
            _add_errors(self, exc, _UPLOAD_FIELDS)
        return self.cleaned_data

    def save(self, commit=True):
        module = super().save()
        if 'auto_sync_enabled' in self.fields and module.auto_sync_enabled != self.cleaned_data['auto_sync_enabled']:
            module.auto_sync_enabled = self.cleaned_data['auto_sync_enabled'] and module.data_file_id is not None
            module.save()
        upload, source_code = self._new_source()
        if upload is not None or source_code is not None:
            try:
                replace_source(module, source_code, file=upload, user=_editing_user(self.instance),
                                       authorise=authoriser(_editing_user(self.instance), 'change'))
            except (ValidationError, PermissionDenied) as exc:
                raise _abort(self, exc, _UPLOAD_FIELDS)
        return module


class ScriptModuleDataSourceForm(_AuthoriseBeforeImport, _SyncFieldsUntouched, NetBoxModelForm):
    """A new module whose source is a file of a NetBox Data Source (for instance a git repository)."""
    data_source = DynamicModelChoiceField(
        label=_('Data source'),
        queryset=DataSource.objects.all(),
    )
    data_file = DynamicModelChoiceField(
        label=_('File'),
        queryset=DataFile.objects.all(),
        query_params={'source_id': '$data_source'},
        help_text=CODE_EXECUTION_WARNING,
    )
    auto_sync_enabled = forms.BooleanField(
        label=_('Auto sync enabled'),
        required=False,
        initial=True,
        help_text=_('Sync the module (a new revision when the file changed) every time the data source is synced'),
    )
    name = forms.CharField(
        label=_('Name'),
        required=False,
        max_length=200,
        help_text=_('Dotted module path. Defaults to the file name without ".py".'),
    )

    fieldsets = (
        FieldSet('data_source', 'data_file', 'auto_sync_enabled', name=_('Data source')),
        FieldSet('name', 'description', 'tags', name=_('Module')),
    )

    class Meta:
        model = ScriptModule
        fields = ('name', 'description', 'tags')

    def clean(self):
        super().clean()
        if self.errors:
            return self.cleaned_data
        data_source, data_file = self.cleaned_data['data_source'], self.cleaned_data['data_file']
        if data_file.source_id != data_source.pk:
            self.add_error('data_file', _('This file does not belong to data source {source}.').format(
                source=data_source
            ))
            return self.cleaned_data
        try:
            self.prepared = prepare_data_file(data_file, self.cleaned_data.get('name') or None)
            check_syntax(self.prepared, 'data_file')
        except ValidationError as exc:
            _add_errors(self, exc, _DATA_FILE_FIELDS)
            return self.cleaned_data
        self.cleaned_data['name'] = self.prepared.name
        return self.cleaned_data

    def save(self, commit=True):
        try:
            module = register_data_file(
                self.cleaned_data['data_file'], name=self.cleaned_data['name'], user=_editing_user(self.instance),
                auto_sync_enabled=self.cleaned_data['auto_sync_enabled'], module=self.instance,
                authorise=self._authoriser('add'),
            )
        except (ValidationError, PermissionDenied) as exc:
            raise _abort(self, exc, _DATA_FILE_FIELDS)
        self._save_m2m()
        return module
