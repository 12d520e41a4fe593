"""Module sources other than the scripts directory: uploads and NetBox Data Source files."""
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ..choices import ModuleSourceChoices
from .modules import save_source

__all__ = (
    'sync_from_data_file',
)


def sync_from_data_file(module):
    """Register the current content of a data-source module's DataFile as its current revision."""
    data_file = module.data_file or module.resolve_data_file()
    if data_file is None:
        raise ValidationError(_('The data file of module {name} no longer exists.').format(name=module.name))
    source_code = data_file.data_as_string
    if source_code is None:
        raise ValidationError(_('The data file {path} is not text.').format(path=data_file.path))
    save_source(
        module.name, source_code, source=ModuleSourceChoices.DATA_SOURCE, file_path=data_file.path,
        module=module if module.pk else None,
    )
