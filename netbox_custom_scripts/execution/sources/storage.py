"""
The copy of uploaded source in NetBox's `scripts` storage backend (under custom_scripts/), for people and tools that
expect files. It is written, replaced or deleted only when the database transaction commits, so a refused or
rolled back upload leaves no file behind; the ModuleRevision is what workers execute.
"""
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction

from ...choices import ModuleSourceChoices
from ..loader import forget

logger = logging.getLogger('netbox_custom_scripts.sources')


# Folder of the `scripts` storage backend that holds uploaded modules.
STORAGE_PREFIX = 'custom_scripts'


def _storage():
    return storages['scripts']


def store_on_commit(path, source_code):
    def store():
        storage = _storage()
        try:
            if storage.exists(path):
                storage.delete(path)
            saved = storage.save(path, ContentFile(source_code.encode('utf-8')))
        except Exception:
            # The database copy is the one that runs; a storage failure must not lose the committed upload.
            logger.exception('Could not write uploaded module file %s to the scripts storage', path)
            return
        if saved != path:
            logger.warning('Uploaded module file stored as %s instead of %s', saved, path)

    transaction.on_commit(store)


def _delete_on_commit(path):
    def delete():
        try:
            _storage().delete(path)
        except FileNotFoundError:
            pass
        except Exception:
            logger.exception('Could not delete uploaded module file %s from the scripts storage', path)

    transaction.on_commit(delete)


def forget_deleted_module(module):
    """A deleted module is dropped from this process's import cache, and an upload's file from the storage."""
    forget(module.name)
    if module.source == ModuleSourceChoices.UPLOAD and module.file_path.startswith(STORAGE_PREFIX + '/'):
        _delete_on_commit(module.file_path)
