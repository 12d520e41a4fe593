from rest_framework.routers import APIRootView

from ...execution.modules import sync_directory

__all__ = (
    'CustomScriptsRootView',
    'SyncOnListMixin',
)


class CustomScriptsRootView(APIRootView):
    def get_view_name(self):
        return 'Custom Scripts'


class SyncOnListMixin:
    """Pick up changed files of the scripts directory before listing (a stat of each file when nothing changed)."""

    def list(self, request, *args, **kwargs):
        sync_directory()
        return super().list(request, *args, **kwargs)
