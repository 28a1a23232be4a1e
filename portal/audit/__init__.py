"""The audit log: `record(kind, principal, ...)` writes one entry now; `record_soon` (pulls) writes it within a
second, batched. The models import lazily, because this package is also a Django app."""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from contextlib import nullcontext
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.access import Principal

log = logging.getLogger(__name__)

# Kinds and how the log pages name them (the API filters on the kinds).
KIND_LABELS = {
    "login": "Signed in", "login_failed": "Failed sign-in", "logout": "Signed out", "signup": "Signed up",
    "password_change": "Changed password", "password_reset": "Reset password",
    "github_connect": "Connected GitHub", "github_disconnect": "Disconnected GitHub",
    "token_create": "Created API token", "token_revoke": "Revoked API token", "token_use": "Used a token",
    "robot_create": "Created robot", "robot_regenerate": "Regenerated robot token", "robot_delete": "Deleted robot",
    "org_create": "Created organization", "org_delete": "Deleted organization", "team_create": "Created team",
    "team_update": "Changed team", "team_delete": "Deleted team", "team_member_add": "Added team member",
    "team_member_remove": "Removed team member", "default_permission_set": "Set default permission",
    "default_permission_delete": "Removed default permission",
    "repo_create": "Created repository", "repo_delete": "Deleted repository",
    "repo_visibility": "Changed visibility", "repo_update": "Changed repository",
    "permission_set": "Set permission", "permission_delete": "Removed permission",
    "push": "Pushed", "pull": "Pulled", "tag_delete": "Deleted tag", "tag_create": "Added or moved tag",
    "tag_expiry": "Set tag expiry", "tag_restore": "Restored tag", "manifest_delete": "Deleted manifest",
    "build_queue": "Started build", "build_cancel": "Cancelled build", "trigger_create": "Created build trigger",
    "trigger_change": "Changed build trigger", "trigger_delete": "Deleted build trigger",
    "scan_policy": "Changed security policy",
    "notification_create": "Created notification", "notification_change": "Changed notification",
    "notification_delete": "Deleted notification",
}
KINDS = tuple(KIND_LABELS)


@cache
def _insert_sql() -> str:
    from portal.audit.models import LogEntry

    return (f"INSERT INTO {LogEntry._meta.db_table} (kind, actor, actor_kind, namespace_id, repository_id, "
            "repository_name, target, detail, client_ip, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def _params(kind: str, principal: Principal | None, client_ip: str | None, namespace_id: int | None, repository: Any,
            target: str, detail: dict[str, Any]) -> list[Any]:
    from django.db import connection
    from django.utils import timezone

    if repository is not None and namespace_id is None:
        namespace_id = repository.namespace_id
    return [kind, principal.username if principal is not None else "",
            principal.kind if principal is not None else "anonymous", namespace_id,
            repository.pk if repository is not None else None,
            repository.full_name if repository is not None else "", target[:255],
            json.dumps(detail, default=str), client_ip or None,
            connection.ops.adapt_datetimefield_value(timezone.now())]


def _no_request(detail: dict[str, Any]) -> None:
    # The entry takes the client's address (client_ip), never the HTTP request: a request passed by its old
    # keyword would otherwise land in `detail` as text, headers and all.
    if "request" in detail:
        raise TypeError("audit entries take client_ip=, not the request")


def record(kind: str, principal: Principal | None, *, client_ip: str | None = None, namespace_id: int | None = None,
           repository: Any = None, target: str = "", **detail: Any) -> None:
    """Write one entry. `repository` is a Repository row (its namespace is taken from it)."""
    _no_request(detail)
    _write([_params(kind, principal, client_ip, namespace_id, repository, target, detail)])


def _write(rows: list[list[Any]]) -> None:
    from django.db import connection

    from portal.db import write_transaction

    # Raw SQL: the ORM's insert costs several times the statement. Outside a transaction, SQLite writers of
    # this process queue (write_transaction) instead of polling the lock; inside one, the caller already
    # holds the database's write lock.
    context = nullcontext() if connection.in_atomic_block else write_transaction()
    with context, connection.cursor() as cursor:
        cursor.executemany(_insert_sql(), rows)


# --- Batched entries ----------------------------------------------------------------------------------------------
# Every manifest GET is a pull to log. Written one by one, each is a database write on the registry's hottest
# read path (measured with SQLite: manifest GET p50 from 12 to 27 ms under 16 clients, as every pull queued
# for the one writer). Pulls are collected per process and written each WHARF_AUDIT_FLUSH_SECONDS by one
# thread in one transaction; a process killed outright loses at most that interval's pull entries, nothing
# else (every other kind is written at once). A process stopped gracefully writes what it holds first: gunicorn
# workers in their worker_exit hook (portal/gunicorn.conf.py), Celery's pool processes on
# worker_process_shutdown (portal/celery.py), any other process at exit (atexit, below).

_pending: list[list[Any]] = []
_pending_lock = threading.Lock()
# Held for a whole flush, so that the last one (at exit) waits for the flusher thread's write in progress
# instead of exiting under it: a daemon thread is stopped wherever it stands.
_flush_lock = threading.Lock()
_flusher_pid = 0


def record_soon(kind: str, principal: Principal | None, *, client_ip: str | None = None,
                namespace_id: int | None = None, repository: Any = None, target: str = "", **detail: Any) -> None:
    """Like record(), but written by this process's flusher thread within WHARF_AUDIT_FLUSH_SECONDS."""
    from django.conf import settings

    _no_request(detail)
    interval = settings.WHARF_AUDIT_FLUSH_SECONDS
    row = _params(kind, principal, client_ip, namespace_id, repository, target, detail)
    if interval <= 0:
        _write([row])
        return
    with _pending_lock:
        _pending.append(row)
        _start_flusher(interval)


def _start_flusher(interval: float) -> None:
    global _flusher_pid
    if _flusher_pid == os.getpid():   # one thread per process; a forked child starts its own
        return
    _flusher_pid = os.getpid()
    threading.Thread(target=_flush_forever, args=(interval,), name="audit-flusher", daemon=True).start()


def _flush_forever(interval: float) -> None:
    while True:
        time.sleep(interval)
        flush()


def flush() -> int:
    """Write the entries waiting in this process; returns how many."""
    from django.db import connection

    with _flush_lock:
        with _pending_lock:
            rows = _pending[:]
            _pending.clear()
        if not rows:
            return 0
        try:
            _write(rows)
        except Exception:   # the database is away: say so, and keep serving (the entries are lost)
            log.exception("could not write %d audit entries", len(rows))
            connection.close()
            return 0
        return len(rows)


atexit.register(flush)
