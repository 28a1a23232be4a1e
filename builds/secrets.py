"""Secrets a trigger keeps and must read back (the webhook's HMAC key, a deploy key's private half, secret build
arguments): encrypted at rest by portal.secretbox with a key derived from SECRET_KEY."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import secretbox

_INFO = b"wharf builds: trigger secrets at rest"   # the key derivation's purpose: stored secrets depend on it


def encrypt(plain: str) -> str:
    return secretbox.encrypt(plain, _INFO)


def decrypt(token: str) -> str:
    """The plain text; ValueError when it was not encrypted with this SECRET_KEY."""
    try:
        return secretbox.decrypt(token, _INFO)
    except ValueError as exc:
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
