"""Small database helpers shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models


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
