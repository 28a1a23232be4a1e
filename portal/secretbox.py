"""Secrets Wharf keeps and must read back (a build trigger's HMAC key, a notification's webhook secret):
encrypted at rest with a key derived from SECRET_KEY (the same on every node when scaled out).

Each kind of secret derives its own key (`purpose`), so a value lifted from one table does not decrypt as
another's."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet(purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str, purpose: bytes) -> str:
    return _fernet(purpose).encrypt(plain.encode()).decode("ascii")


def decrypt(token: str, purpose: bytes) -> str:
    """The plain text; ValueError when it was not encrypted with this SECRET_KEY for this purpose."""
    try:
        return _fernet(purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise ValueError("a stored secret does not decrypt with this SECRET_KEY") from exc
