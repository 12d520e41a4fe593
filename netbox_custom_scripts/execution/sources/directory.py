"""The scripts directory (setting scripts_dir): its files and packages, registered and re-synced when they change."""
import hashlib
import logging
import os
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_pg_utils import advisory_lock
from netbox.plugins import get_plugin_config

from ...choices import ModuleSourceChoices, ModuleStatusChoices
from ...models import ScriptModule
from ...models.modules import content_hash
from ..loader import PendingSource, forget, pending_sources
from .names import check_size, validate_module_name
from .registry import SYNC_LOCK_ID, save_source, set_module_state

logger = logging.getLogger('netbox_custom_scripts.sources')


@dataclass
class DirectorySyncResult:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)  # module name (or file) -> error

    @property
    def changed(self):
        return bool(self.created or self.updated or self.missing)


def _directory_files(root):
    """(module name, relative path, absolute path) of every .py file below root; hidden and cache dirs skipped."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.') and d != '__pycache__')
        for filename in sorted(filenames):
            if not filename.endswith('.py') or filename.startswith('.'):
                continue
            path = os.path.join(dirpath, filename)
            relative = os.path.relpath(path, root)
            parts = relative[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            if parts:
                yield '.'.join(parts), relative, path


def directory_fingerprint(root):
    """A cheap (stat-only) fingerprint of the directory; it changes when any module file changes."""
    digest = hashlib.sha256()
    for _name, relative, path in _directory_files(root):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        digest.update(f'{relative}\0{stat.st_mtime_ns}\0{stat.st_size}\n'.encode())
    return digest.hexdigest()


_last_fingerprint = {}


def clear_fingerprints():
    """Make the next sync_directory() read the directory even when it looks unchanged."""
    _last_fingerprint.clear()


def sync_directory(root=None, user=None, force=False):
    """
    Bring the directory-sourced modules in step with the files below `root` (the `scripts_dir` setting). Cheap
    when nothing changed (a stat of each file). Returns a DirectorySyncResult, or None when nothing was checked.
    """
    root = root or get_plugin_config('netbox_custom_scripts', 'scripts_dir')
    if not root:
        return None
    root = os.path.realpath(root)
    fingerprint = directory_fingerprint(root)
    if not force and _last_fingerprint.get(root) == fingerprint:
        return None

    result = DirectorySyncResult()
    with advisory_lock(SYNC_LOCK_ID):
        existing = {
            module.name: module
            for module in ScriptModule.objects.filter(source=ModuleSourceChoices.DIRECTORY).select_related(
                'current_revision'
            )
        }
        files = {}
        for name, relative, path in _directory_files(root):
            try:
                validate_module_name(name)
                check_size(os.path.getsize(path))
                with open(path, encoding='utf-8') as f:
                    files[name] = (relative, f.read())
            except (ValidationError, OSError, UnicodeDecodeError) as exc:
                message = '; '.join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                result.errors[relative] = message
                logger.warning('Script file %s skipped: %s', relative, message)

        # Any change re-imports every module of the directory: a changed helper changes the modules importing it.
        changed = set(files) ^ set(existing) or any(
            existing[name].file_path != relative or not existing[name].current_revision
            or existing[name].current_revision.content_hash != content_hash(text)
            for name, (relative, text) in files.items() if name in existing
        ) or force
        if changed:
            pending = {
                name: PendingSource(text, content_hash(text), relative.endswith('__init__.py'))
                for name, (relative, text) in files.items()
            }
            with pending_sources(pending):
                _register_files(files, existing, user, result)
            for name, module in existing.items():
                if name not in files and module.status != ModuleStatusChoices.MISSING:
                    with transaction.atomic():
                        module.snapshot()
                        set_module_state(module, ModuleStatusChoices.MISSING, _('The file no longer exists.'))
                        module.save()
                        for script in module.scripts.filter(is_active=True):
                            script.snapshot()
                            script.is_active = False
                            script.save()
                    forget(name)
                    result.missing.append(name)
    _last_fingerprint[root] = fingerprint
    return result


def _register_files(files, existing, user, result):
    for name in sorted(files):
        relative, text = files[name]
        before = existing.get(name)
        previous_hash = before.content_hash if before else None
        try:
            module = save_source(
                name, text, source=ModuleSourceChoices.DIRECTORY, file_path=relative, user=user,
                module=before, force_reload=True,
            )
        except ValidationError as exc:
            result.errors[name] = '; '.join(exc.messages)
            continue
        if before is None:
            result.created.append(name)
        elif module.content_hash != previous_hash:
            result.updated.append(name)
        if module.status == ModuleStatusChoices.ERROR:
            result.errors[name] = module.error
