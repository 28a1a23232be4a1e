"""Secrets a trigger keeps and must read back (the webhook's HMAC key, a deploy key's private half, secret build
arguments): encrypted at rest with a key derived from SECRET_KEY (the same on every node when scaled out)."""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"wharf builds: trigger secrets at rest"


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plain text; ValueError when it was not encrypted with this SECRET_KEY."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise ValueError("a trigger secret does not decrypt with this SECRET_KEY") from exc


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


def new_deploy_key(comment: str) -> tuple[str, str]:
    """(the OpenSSH public key line, the private key in OpenSSH PEM form): an Ed25519 read-only deploy key."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode("ascii")
    return f"{public} {comment}", private
