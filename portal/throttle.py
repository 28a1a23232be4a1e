"""Fixed-window counters of failed sign-ins, shared by every process through the database.

Only failures are counted, so a client with good credentials never pays more than one read. Keys are the
client address and the account name as typed, whether or not such an account exists, so the answer (429
with Retry-After) says nothing about which accounts exist.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from django.conf import settings
from django.db import connection

from portal.errors import Throttled


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


def _keys(request: Any, account: str) -> list[tuple[str, int]]:
    from portal.accounts.credentials import TOKEN_USERNAMES

    keys = []
    # "$token" and the like name no account: every user's API tokens arrive under them, so counting them
    # as one account would let anyone's failures lock out everyone's tokens. The client key still applies.
    if account and account not in TOKEN_USERNAMES:
        keys.append((f"account:{account.lower()[:150]}", settings.WHARF_FAILED_LOGINS_PER_ACCOUNT))
    ip = client_ip(request)
    if ip:
        keys.append((f"client:{ip}", settings.WHARF_FAILED_LOGINS_PER_CLIENT))
    return keys


def _window() -> tuple[int, int]:
    size = settings.WHARF_FAILED_LOGIN_WINDOW
    now = int(time.time())
    return now // size, size - now % size


def check(request: Any, account: str) -> None:
    """Raise Throttled when the client or the account has used up its failures in this window."""
    from portal.accounts.models import Throttle

    window, remaining = _window()
    keys = _keys(request, account)
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, failures FROM {Throttle._meta.db_table} "
                       "WHERE window_start = %s AND key IN (%s, %s)", [window, keys[0][0], keys[-1][0]])
        counts = dict(cursor.fetchall())
    if any(counts.get(key, 0) >= limit for key, limit in keys):
        raise Throttled(remaining)


def failed(request: Any, account: str) -> None:
    """Count one failure against the client and the account (one upsert each, no read-modify-write race)."""
    from portal.accounts.models import Throttle

    window, _ = _window()
    table = Throttle._meta.db_table
    sql = (f"INSERT INTO {table} (key, window_start, failures) VALUES (%s, %s, 1) "
           f"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN {table}.window_start = excluded.window_start "
           f"THEN {table}.failures + 1 ELSE 1 END, window_start = excluded.window_start")
    with connection.cursor() as cursor:
        for key, _limit in _keys(request, account):
            cursor.execute(sql, [key, window])
