"""Signed registry tokens (Docker token auth): issued by the token endpoint, checked on every /v2/ call."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from portal.env import write_once

ALGORITHM = "RS256"
ISSUER = "wharf"


@dataclass(frozen=True)
class Claims:
    subject: str                      # the username or `ns+robot`, "" for anonymous
    access: tuple[tuple[str, str, frozenset[str]], ...]
    expires_at: float
    credential: str = ""              # what the token was issued for: user:ID, robot:ID:GEN or token:ID

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(t == type_ and n == name and (action in a or "*" in a) for t, n, a in self.access)


@cache
def _keys(path: str) -> tuple[Any, Any]:
    def generate() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    private = serialization.load_pem_private_key(write_once(settings.WHARF_TOKEN_KEY_PATH, generate), None)
    return private, private.public_key()  # type: ignore[union-attr]


def keys() -> tuple[Any, Any]:
    return _keys(str(settings.WHARF_TOKEN_KEY_PATH))


def issue(subject: str, access: list[dict[str, Any]], credential: str = "") -> tuple[str, int]:
    """A token for `subject` granting `access` (a list of {type, name, actions}); returns (token, ttl)."""
    now = int(time.time())
    ttl = settings.WHARF_TOKEN_TTL
    claims = {"iss": ISSUER, "sub": subject, "aud": settings.WHARF_REGISTRY_SERVICE, "iat": now, "nbf": now - 5,
              "exp": now + ttl, "jti": uuid.uuid4().hex, "access": access, "cred": credential}
    return jwt.encode(claims, keys()[0], algorithm=ALGORITHM), ttl


REFRESH_AUDIENCE_SUFFIX = ":refresh"


def issue_refresh(subject: str, credential: str) -> str:
    """A long-lived refresh token (docker's offline_token): it can only be exchanged at the token endpoint,
    and only while the credential it names still holds."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "aud": settings.WHARF_REGISTRY_SERVICE + REFRESH_AUDIENCE_SUFFIX,
              "iat": now, "exp": now + settings.WHARF_REFRESH_TOKEN_TTL, "jti": uuid.uuid4().hex,
              "cred": credential}
    return jwt.encode(claims, keys()[0], algorithm=ALGORITHM)


def verify_refresh(token: str) -> tuple[str, str]:
    """(subject, credential) of a refresh token this registry signed and that has not expired."""
    try:
        decoded = jwt.decode(token, keys()[1], algorithms=[ALGORITHM], issuer=ISSUER,
                             audience=settings.WHARF_REGISTRY_SERVICE + REFRESH_AUDIENCE_SUFFIX,
                             options={"require": ["exp", "sub", "aud", "iss", "cred"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    return str(decoded["sub"]), str(decoded["cred"])


class InvalidToken(Exception):
    pass


_verified: OrderedDict[str, Claims] = OrderedDict()
_verified_lock = threading.Lock()
_CACHE_SIZE = 4096


def verify(token: str) -> Claims:
    """Check signature, issuer, audience and expiry. Clients reuse one token for many requests, so a
    verified token is remembered (until it expires) and the RSA check runs once per token, not per call."""
    with _verified_lock:
        claims = _verified.get(token)
    if claims is not None:
        if claims.expires_at > time.time():
            return claims
        raise InvalidToken("token expired")
    try:
        decoded = jwt.decode(token, keys()[1], algorithms=[ALGORITHM], audience=settings.WHARF_REGISTRY_SERVICE,
                             issuer=ISSUER, options={"require": ["exp", "sub", "aud", "iss"]})
        access = tuple(
            (str(entry["type"]), str(entry["name"]), frozenset(str(a) for a in entry.get("actions", [])))
            for entry in decoded.get("access", [])
        )
    except (jwt.PyJWTError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
    credential = str(decoded.get("cred", ""))
    if decoded["sub"] and not credential:
        raise InvalidToken("token names no credential")
    claims = Claims(decoded["sub"], access, float(decoded["exp"]), credential)
    with _verified_lock:
        _verified[token] = claims
        if len(_verified) > _CACHE_SIZE:
            _verified.popitem(last=False)
    return claims
