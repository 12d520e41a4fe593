"""The plugin's event types (NetBox notifications and event rules can follow them), registered in ready()."""
from django.utils.translation import gettext_lazy as _
from netbox.events import EVENT_TYPE_KIND_DANGER, EVENT_TYPE_KIND_SUCCESS, EVENT_TYPE_KIND_WARNING, EventType

__all__ = (
    'APPROVAL_REQUESTED',
    'RUN_APPROVED',
    'RUN_REJECTED',
    'register_event_types',
)

APPROVAL_REQUESTED = 'netbox_custom_scripts.approval_requested'
RUN_APPROVED = 'netbox_custom_scripts.run_approved'
RUN_REJECTED = 'netbox_custom_scripts.run_rejected'


def register_event_types():
    EventType(APPROVAL_REQUESTED, _('Script run awaiting approval'), kind=EVENT_TYPE_KIND_WARNING).register()
    EventType(RUN_APPROVED, _('Script run approved'), kind=EVENT_TYPE_KIND_SUCCESS).register()
    EventType(RUN_REJECTED, _('Script run rejected'), kind=EVENT_TYPE_KIND_DANGER).register()
