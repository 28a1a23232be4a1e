"""The Basic scheme of the Authorization header (RFC 7617), read the same way by the registry's token endpoint
and the REST API."""

from __future__ import annotations

import base64
import binascii


def parse_basic(header: str) -> tuple[str, str] | None:
    """(username, secret) of an `Authorization: Basic …` header; None for another scheme; ValueError when the
    Basic value is not base64 of UTF-8."""
    kind, _, encoded = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        username, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    return username, secret
