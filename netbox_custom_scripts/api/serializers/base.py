from collections.abc import Mapping

from django.utils.translation import gettext as _
from rest_framework import serializers

__all__ = (
    'RejectUnknownFieldsMixin',
)


# Read-only fields that only identify or date the object: sending them back (from a GET) changes nothing and is
# harmless, so they are let through.
IDENTITY_FIELDS = ('id', 'url', 'display_url', 'display', 'created', 'last_updated')


class RejectUnknownFieldsMixin:
    """
    A field the serializer does not take is a 400, not silently dropped: `{"comit": false}` or `{"dry_run": true}`
    must not commit, and `{"enabled": false}` on a schedule must not look as if it paused it. Unknown fields and
    read-only ones are refused; the fields that only identify the object pass.
    """
    read_only_hints = {}

    def to_internal_value(self, data):
        parent = getattr(self, 'parent', None)
        top_level = parent is None or (isinstance(parent, serializers.ListSerializer) and parent.parent is None)
        if isinstance(data, Mapping) and top_level:
            writable = {name for name, field in self.fields.items() if not field.read_only}
            # Declared on NetBox's base serializers without being in Meta.fields.
            writable |= {name for name, field in getattr(self, '_declared_fields', {}).items() if not field.read_only}
            errors = {}
            for key in sorted(map(str, data)):
                if key in writable or key in IDENTITY_FIELDS:
                    continue
                if key in self.fields:
                    errors[key] = [self.read_only_hints.get(key) or _('Read-only; it cannot be set here.')]
                else:
                    errors[key] = [_('Unknown field; this endpoint takes: {fields}.').format(
                        fields=', '.join(sorted(writable))
                    )]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
