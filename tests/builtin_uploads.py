"""
Stock (built-in) script modules as NetBox's upload form makes them, shared by the migrate-builtin web tests
(tests/test_migrate_builtin_web.py) and the browser test of that page.
"""
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from extras.models import ScriptModule as BuiltinModule

# Module names unique to these tests: NetBox's scripts storage is a directory other test files write to as well.
INVENTORY = 'wmig_inventory'
REPORTS = 'wmig_reports'

INVENTORY_SOURCE = """\
from extras.scripts import Script, StringVar


class Greet(Script):
    class Meta:
        name = "Greet"
        description = "Says hello"

    who = StringVar(default="world")

    def run(self, data, commit):
        self.log_success(f"hello {data['who']}")
        return "greeted"


class Count(Script):
    def run(self, data, commit):
        self.log_info("one")
"""

REPORTS_SOURCE = """\
from extras.scripts import Script


class Nightly(Script):
    def run(self, data, commit):
        self.log_info("nightly")
"""


def add_builtin_module(name, source):
    """An uploaded built-in module, as NetBox's upload form makes one: the file in storage, then the record."""
    storage = storages['scripts']
    path = f'{name}.py'
    if storage.exists(path):
        storage.delete(path)
    storage.save(path, ContentFile(source.encode()))
    module = BuiltinModule(file_root='scripts', file_path=path)
    module.full_clean()
    module.save()  # sync_classes(): one extras.Script per class
    return module
