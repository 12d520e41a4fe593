"""
Sealing secret input values for their trip through Redis to the worker. They are never stored in the database;
in the queued job they are encrypted with a key derived from NetBox's SECRET_KEY, so a dump of Redis does not
reveal them either.
"""
import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

__all__ = (
    'seal',
    'unseal',
)


def _fernet():
    key = hashlib.sha256(b'netbox-custom-scripts:secrets:' + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(values):
    """Encrypt a dict of secret values (None when there are none)."""
    if not values:
        return None
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def unseal(token):
    """The dict of secret values sealed by seal(); {} when none. Raises ValueError if the token was tampered with."""
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ValueError('The sealed secret inputs could not be decrypted (was SECRET_KEY changed?)')
