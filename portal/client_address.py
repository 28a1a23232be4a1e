"""Who is on the other end of a request: the one place that reads the client's address from HTTP.

Services below the views take the address as a plain string (for the audit log and the sign-in limits), never
the request itself."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_ip(request: Any) -> str | None:
    """The client's address: the peer's, or behind WHARF_TRUSTED_PROXIES reverse proxies, the address the
    outermost trusted proxy saw (counted from the right of X-Forwarded-For, since a client can write
    anything into the left of it)."""
    if request is None:
        return None
    peer: str | None = request.META.get("REMOTE_ADDR")
    proxies = settings.WHARF_TRUSTED_PROXIES
    if proxies <= 0:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return peer   # not through the expected proxies: the peer is all we know
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer

