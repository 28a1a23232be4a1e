"""Small database helpers shared by the apps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models, transaction


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


# SQLite has one writer at a time, and a writer that finds the lock taken sleeps in growing steps (1, 2,
# 5, 10 ms...). Threads of one process queue here instead, and are handed the lock at once.
_sqlite_writer = threading.RLock()


@contextmanager
def write_transaction() -> Iterator[None]:
    """transaction.atomic(), taken in turn by this process's threads on SQLite."""
    if connection.vendor != "sqlite":
        with transaction.atomic():
            yield
        return
    with _sqlite_writer, transaction.atomic():
        yield
