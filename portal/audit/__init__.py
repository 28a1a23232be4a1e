"""The audit log: `record(kind, principal, ...)` writes one entry; the models import lazily (this is an app)."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.access import Principal

# Kinds, for readers of the log (the API filters on them).
KINDS = (
    "login", "login_failed", "logout", "signup", "password_change", "password_reset",
    "github_connect", "github_disconnect",
    "token_create", "token_revoke", "token_use",
    "robot_create", "robot_regenerate", "robot_delete",
    "org_create", "org_delete", "team_create", "team_update", "team_delete", "team_member_add",
    "team_member_remove", "default_permission_set", "default_permission_delete",
    "repo_create", "repo_delete", "repo_visibility", "repo_update", "permission_set", "permission_delete",
    "push", "pull", "tag_delete", "manifest_delete",
)

_SQL: list[str] = []


def record(kind: str, principal: Principal | None, *, request: Any = None, namespace_id: int | None = None,
           repository: Any = None, target: str = "", **detail: Any) -> None:
    """Write one entry. `repository` is a Repository row (its namespace is taken from it)."""
    from django.db import connection
    from django.utils import timezone

    from portal.audit.models import LogEntry
    from portal.db import write_transaction

    if not _SQL:
        _SQL.append(f"INSERT INTO {LogEntry._meta.db_table} (kind, actor, actor_kind, namespace_id, repository_id, "
                    "repository_name, target, detail, client_ip, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    actor = principal.username if principal is not None else ""
    actor_kind = principal.kind if principal is not None else "anonymous"
    if repository is not None and namespace_id is None:
        namespace_id = repository.namespace_id
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [kind, actor, actor_kind, namespace_id, repository.pk if repository is not None else None,
              repository.full_name if repository is not None else "", target[:255],
              json.dumps(detail, default=str), ip or None, now]
    # Raw SQL: a pull writes one of these, and the ORM's insert costs several times the statement. Outside
    # a transaction, SQLite writers of this process queue (write_transaction) instead of polling the lock;
    # inside one, the caller already holds the database's write lock.
    context = nullcontext() if connection.in_atomic_block else write_transaction()
    with context, connection.cursor() as cursor:
        cursor.execute(_SQL[0], params)
