"""What the scanner found, as the pages show it: the summary of each manifest asked for, in one statement."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scanning.models import ScanSummary


@dataclass(frozen=True)
class Summary:
    status: str   # a ScanStatus value
    critical: int
    high: int
    medium: int
    low: int
    unknown: int
    negligible: int = 0
    fixable: int = 0   # findings with a fixed version
    reason: str = ""   # why failed or unsupported


def summaries(manifest_ids: Iterable[int]) -> dict[int, Summary]:
    """manifest id → its scan summary; a manifest that was never scanned has none. One statement (none for
    no ids), on the one-to-one's unique index."""
    ids = set(manifest_ids)
    if not ids:
        return {}
    rows = ScanSummary.objects.filter(manifest_id__in=ids).values_list(
        "manifest_id", "status", "critical", "high", "medium", "low", "unknown", "negligible", "fixable", "reason")
    return {row[0]: Summary(*row[1:]) for row in rows}
