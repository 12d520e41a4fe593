"""
`extras.reports` as modules written for NetBox's legacy reports see it (NetBox 5.0 removes NetBox's own): `Report`,
a Script whose test_* methods run as a report's did and whose log methods take (obj, message), as a report's did.
"""
from .scripting import Script

__all__ = ('Report',)


class Report(Script):
    """NetBox's legacy report base: test_* methods, no run(), log calls with the object first."""

    def log(self, message):
        Script.log_info(self, message)

    def log_debug(self, obj=None, message=None):
        Script.log_debug(self, message, obj)

    def log_success(self, obj=None, message=None):
        Script.log_success(self, message, obj)

    def log_info(self, obj=None, message=None):
        Script.log_info(self, message, obj)

    def log_warning(self, obj=None, message=None):
        Script.log_warning(self, message, obj)

    def log_failure(self, obj=None, message=None):
        Script.log_failure(self, message, obj)
