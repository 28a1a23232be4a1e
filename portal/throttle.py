"""Fixed-window counters of failed sign-ins, shared by every process through the database.

Failures slow down the client that fails, never the owner of the account it aims at. Three counters:

- per client address: a client that fails too often, on whatever accounts, is refused everything;
- per client address and account name (as typed, whether or not such an account exists, so the answer
  says nothing about which accounts exist): guessing one person's password from one address;
- per account name, a global backstop much higher than the pair limit, against guessing spread over many
  addresses. It refuses only clients that have themselves failed on that account in the window, so the
  owner, whose address has no failures there, still signs in with the right password while an attack runs
  (a progressive delay was the alternative; it would tie up a web thread per attempt and still make the
  owner wait).

Robot and API tokens are 256-bit secrets nobody can guess, so they are never counted per account: their
callers check the secret first (a SHA-256 and an index probe), and only a wrong one is counted and refused
(portal.accounts.credentials). Only failures are counted, so good credentials never pay more than one read.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection

from portal.errors import Throttled
from portal.names import TOKEN_USERNAMES


def _client_key(client_ip: str | None) -> str:
    # Without an address every such caller is one client, so the limits still apply.
    return f"client:{client_ip or 'unknown'}"


def _keys(client_ip: str | None, account: str) -> list[str]:
    """[client] for a token, or [client, client+account, account] for a password."""
    client = _client_key(client_ip)
    # "$token" and the like name no account: every user's API tokens arrive under them.
    if not account or account in TOKEN_USERNAMES:
        return [client]
    name = account.lower()[:150]
    return [client, f"pair:{client[len('client:'):]} {name}"[:200], f"account:{name}"]


# The backstop refuses an address only after this many failures of its own on the account: the owner's
# occasional typo while an attack runs elsewhere does not lock the owner out.
BACKSTOP_PAIR_FAILURES = 3


def _window() -> tuple[int, int]:
    size = settings.WHARF_FAILED_LOGIN_WINDOW
    now = int(time.time())
    return now // size, size - now % size


def check(client_ip: str | None, account: str) -> None:
    """Raise Throttled when this client has used up its failures in this window: on any account, on this
    account (a password's name; "" for a token), or on an account past its global backstop."""
    from portal.accounts.models import Throttle

    window, remaining = _window()
    keys = _keys(client_ip, account)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, failures FROM {Throttle._meta.db_table} WHERE window_start = %s "
                       f"AND key IN ({', '.join(['%s'] * len(keys))})", [window, *keys])
        counts = dict(cursor.fetchall())
    client, *named = [counts.get(key, 0) for key in keys]
    refused = client >= settings.WHARF_FAILED_LOGINS_PER_CLIENT
    if named:
        pair, total = named
        refused = refused or pair >= settings.WHARF_FAILED_LOGINS_PER_ACCOUNT or (
            pair >= BACKSTOP_PAIR_FAILURES and total >= settings.WHARF_FAILED_LOGINS_ACCOUNT_BACKSTOP)
    if refused:
        raise Throttled(remaining)


def failed(client_ip: str | None, account: str) -> None:
    """Count one failure against the client (and for a password, the pair and the account): one upsert each,
    no read-modify-write race."""
    from portal.accounts.models import Throttle

    window, _ = _window()
    table = Throttle._meta.db_table
    sql = (f"INSERT INTO {table} (key, window_start, failures) VALUES (%s, %s, 1) "
           f"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN {table}.window_start = excluded.window_start "
           f"THEN {table}.failures + 1 ELSE 1 END, window_start = excluded.window_start")
    with connection.cursor() as cursor:
        for key in _keys(client_ip, account):
            cursor.execute(sql, [key, window])
