from collections.abc import Mapping

from django.utils.translation import gettext as _
from rest_framework import serializers

__all__ = (
    'RejectUnknownFieldsMixin',
)


class RejectUnknownFieldsMixin:
    """
    A field the serializer does not know is a 400, not silently dropped: `{"comit": false}` or `{"dry_run": true}`
    must not commit. Fields the serializer declares (read-only ones too, which clients send back from a GET) pass.
    """

    def to_internal_value(self, data):
        parent = getattr(self, 'parent', None)
        top_level = parent is None or (isinstance(parent, serializers.ListSerializer) and parent.parent is None)
        if isinstance(data, Mapping) and top_level:
            known = set(self.fields) | set(getattr(self, '_declared_fields', {}))
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                accepted = ', '.join(sorted(name for name, field in self.fields.items() if not field.read_only))
                message = _('Unknown field; this endpoint takes: {fields}.').format(fields=accepted)
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)
