"""Small database helpers shared by the apps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.db import OperationalError, connection, models, transaction
from django.utils.dateparse import parse_datetime


class ByteOrderCharField(models.CharField):  # type: ignore[type-arg]
    """A CharField compared and sorted byte by byte on every database.

    The OCI API lists tags and repositories "in lexical order"; PostgreSQL's default collation is the
    locale's (which ignores punctuation), so the column uses the "C" collation there. SQLite already
    compares bytes.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime column read by raw SQL, as the ORM would give it: aware, in UTC.

    PostgreSQL returns timestamptz as an aware datetime. SQLite stores naive UTC text, which Django's
    converters turn into a *naive* datetime (or leave as text for an expression's result); comparing that
    with timezone.now() raises TypeError, so every raw read of a datetime goes through here.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


# SQLite has one writer at a time, and a writer that finds the lock taken sleeps in growing steps (1, 2,
# 5, 10 ms...). Threads of one process queue here instead, and are handed the lock at once.
_sqlite_writer = threading.RLock()


@contextmanager
def write_transaction() -> Iterator[None]:
    """transaction.atomic(), taken in turn by this process's threads on SQLite.

    A thread waits in this queue no longer than SQLite's busy timeout, as it would for another process's
    lock; then it fails as SQLite would ("database is locked"), which answers 503 (portal/failures.py).
    """
    if connection.vendor != "sqlite":
        with transaction.atomic():
            yield
        return
    if not _sqlite_writer.acquire(timeout=float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5))):
        raise OperationalError("database is locked (this process's writers queued past the busy timeout)")
    try:
        with transaction.atomic():
            yield
    finally:
        _sqlite_writer.release()
