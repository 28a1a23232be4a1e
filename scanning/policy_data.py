"""What a pull policy needs to know of one manifest's scan: its status and its findings per severity."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from django.db import connection

from scanning.models import ScanSummary
from scanning.severity import Severity


@dataclass(frozen=True)
class ScanResult:
    status: str                                        # a ScanStatus value
    counts: dict[Severity, int] = field(default_factory=dict)   # findings per severity (absent: none)

    def at_or_above(self, lowest: Severity) -> dict[Severity, int]:
        """The non-zero counts of `lowest` and every severity above it, highest first."""
        return {level: self.counts[level] for level in sorted(self.counts, reverse=True)
                if level >= lowest and self.counts[level]}


@cache
def _counted() -> tuple[Severity, ...]:
    # The severities the summary has a column for (Negligible came after Unknown..Critical).
    columns = {f.name for f in ScanSummary._meta.get_fields()}
    return tuple(level for level in Severity if level.name.lower() in columns)


@cache
def _statement() -> str:
    columns = ", ".join(["status", *(level.name.lower() for level in _counted())])
    return f"SELECT {columns} FROM {ScanSummary._meta.db_table} WHERE manifest_id = %s"


def summary(manifest_id: int) -> ScanResult | None:
    """The manifest's scan, or None when it was never scanned. One statement, on the one-to-one's index, as
    fixed SQL: it runs on every pull from a repository with a policy, where building an ORM query would cost
    several times running it (measured: ~0.45 ms a pull, against ~0.05 ms; see registry_api/queries.py)."""
    with connection.cursor() as cursor:
        cursor.execute(_statement(), [manifest_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return ScanResult(str(row[0]), dict(zip(_counted(), (int(n) for n in row[1:]), strict=True)))
