"""Signed registry tokens (Docker token auth): issued by the token endpoint, checked on every /v2/ call."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
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


@dataclass(frozen=True)
class Keyring:
    """The key that signs (current) and every key that verifies: the current one and, during a rotation, the
    previous one. Tokens carry the signer's `kid`, so a check tries the one key that made it."""
    private: Any
    kid: str
    public: dict[str, Any]          # kid -> public key, current first


def _kid(public: Any) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def _pem(text: str) -> bytes:
    # A PEM in one environment line (a .env file, a systemd Environment=) comes with its newlines as "\n".
    return (text.replace("\\n", "\n") if "\n" not in text else text).encode()


def _public(pem: bytes) -> Any:
    """The public key of a PEM: the previous key may be handed over as its private or only its public half."""
    if b"PRIVATE KEY" in pem:
        return serialization.load_pem_private_key(pem, None).public_key()
    return serialization.load_pem_public_key(pem)


@cache
def _keyring(key: str, key_path: str, previous: str, previous_path: str) -> Keyring:
    def generate() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    # WHARF_TOKEN_KEY (every node the same) wins over the file; the file is generated only for the embedded
    # default, where one DATA_DIR serves every process.
    pem = _pem(key) if key else write_once(Path(key_path), generate)
    private = serialization.load_pem_private_key(pem, None)
    kid = _kid(private.public_key())
    public = {kid: private.public_key()}
    previous_pem = _pem(previous) if previous else Path(previous_path).read_bytes() if previous_path else b""
    if previous_pem:
        old = _public(previous_pem)
        public.setdefault(_kid(old), old)
    return Keyring(private, kid, public)


def keyring() -> Keyring:
    return _keyring(settings.WHARF_TOKEN_KEY, str(settings.WHARF_TOKEN_KEY_PATH), settings.WHARF_TOKEN_PREVIOUS_KEY,
                    str(settings.WHARF_TOKEN_PREVIOUS_KEY_PATH or ""))


def keys() -> tuple[Any, Any]:
    """The signing key and its public half."""
    ring = keyring()
    return ring.private, ring.public[ring.kid]


def _sign(claims: dict[str, Any]) -> str:
    ring = keyring()
    return jwt.encode(claims, ring.private, algorithm=ALGORITHM, headers={"kid": ring.kid})


def _kid_of(token: str) -> str | None:
    """The `kid` of a token's header, unverified (it only picks the key to try). PyJWT's own reader decodes
    and checks all three parts, which doubled the cost of a verification."""
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".", 1)[0] + "=="))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _decode(token: str, **options: Any) -> dict[str, Any]:
    """The claims of a token signed by a key of the keyring: the one its `kid` names, or (a token from before
    key ids, or a kid this node does not know) each key in turn."""
    public = keyring().public
    kid = _kid_of(token) if len(public) > 1 else None
    candidates = [public[kid]] if kid in public else list(public.values())
    error: jwt.PyJWTError = jwt.InvalidSignatureError("no key")
    for candidate in candidates:
        try:
            return jwt.decode(token, candidate, algorithms=[ALGORITHM], issuer=ISSUER, **options)
        except jwt.InvalidSignatureError as exc:
            error = exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
    raise InvalidToken(str(error))


def issue(subject: str, access: list[dict[str, Any]], credential: str = "") -> tuple[str, int]:
    """A token for `subject` granting `access` (a list of {type, name, actions}); returns (token, ttl)."""
    now = int(time.time())
    ttl = settings.WHARF_TOKEN_TTL
    claims = {"iss": ISSUER, "sub": subject, "aud": settings.WHARF_REGISTRY_SERVICE, "iat": now, "nbf": now - 5,
              "exp": now + ttl, "jti": uuid.uuid4().hex, "access": access, "cred": credential}
    return _sign(claims), ttl


REFRESH_AUDIENCE_SUFFIX = ":refresh"


def issue_refresh(subject: str, credential: str, *, ttl: int | None = None,
                  ceiling: dict[str, list[str]] | None = None) -> str:
    """A long-lived refresh token (docker's offline_token): it can only be exchanged at the token endpoint,
    and only while the credential it names still holds.

    A `ceiling` ({repository name or "*": [actions]}) caps every token exchanged for it below what the
    credential holds: a build's worker gets push on its one repository and pull elsewhere, for `ttl` seconds
    (the build's time limit), however much its starter may do."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": subject, "aud": settings.WHARF_REGISTRY_SERVICE + REFRESH_AUDIENCE_SUFFIX,
        "iat": now, "exp": now + (settings.WHARF_REFRESH_TOKEN_TTL if ttl is None else ttl),
        "jti": uuid.uuid4().hex, "cred": credential}
    if ceiling is not None:
        claims["ceiling"] = ceiling
    return _sign(claims)


@dataclass(frozen=True)
class Refresh:
    subject: str
    credential: str
    ceiling: dict[str, list[str]] | None

    def cap(self, name: str, actions: list[str]) -> list[str]:
        """The actions among `actions` that this refresh token lets a token hold on repository `name`."""
        if self.ceiling is None:
            return actions
        allowed = self.ceiling.get(name, self.ceiling.get("*", []))
        return [action for action in actions if action in allowed]


def verify_refresh_claims(token: str) -> Refresh:
    """The subject, credential and ceiling of a refresh token this registry signed and that has not expired."""
    decoded = _decode(token, audience=settings.WHARF_REGISTRY_SERVICE + REFRESH_AUDIENCE_SUFFIX,
                      options={"require": ["exp", "sub", "aud", "iss", "cred"]})
    ceiling = decoded.get("ceiling")
    if ceiling is not None and not (isinstance(ceiling, dict) and all(
            isinstance(k, str) and isinstance(v, list) for k, v in ceiling.items())):
        raise InvalidToken("malformed ceiling")
    return Refresh(str(decoded["sub"]), str(decoded["cred"]), ceiling)


def verify_refresh(token: str) -> tuple[str, str]:
    """(subject, credential) of a refresh token this registry signed and that has not expired."""
    refresh = verify_refresh_claims(token)
    return refresh.subject, refresh.credential


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
    decoded = _decode(token, audience=settings.WHARF_REGISTRY_SERVICE,
                      options={"require": ["exp", "sub", "aud", "iss"]})
    try:
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
