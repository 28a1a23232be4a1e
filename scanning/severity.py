"""One severity scale for every advisory source: Unknown < Negligible < Low < Medium < High < Critical.

An OSV record's severity comes, in this order, from:
1. a CVSS vector in its `severity[]` (or, failing that, in an `affected[].severity[]`): CVSS_V3 first, then
   CVSS_V4, then CVSS_V2; the base score is put in CVSS v3's qualitative bands (0 → Negligible, 0.1–3.9 Low,
   4.0–6.9 Medium, 7.0–8.9 High, 9.0–10 Critical), whatever the CVSS version;
2. a named severity: an `Ubuntu` entry of `severity[]`, `database_specific.severity` (GHSA's "MODERATE"),
   then `affected[].ecosystem_specific` / `affected[].database_specific` (`severity`, or Debian's `urgency`);
   the highest named one wins;
3. otherwise Unknown.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

log = logging.getLogger(__name__)


class Severity(enum.IntEnum):
    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, name: object) -> Severity:
        """A severity by any name a database uses, case-insensitively; Unknown for anything else.
        Debian's tracker marks unconfirmed urgencies with "*" ("low*"), which is dropped."""
        if not isinstance(name, str):
            return cls.UNKNOWN
        key = re.sub(r"[^a-z ]", "", name.lower()).strip()
        return _NAMES.get(key, cls.UNKNOWN)

    @classmethod
    def from_score(cls, score: float) -> Severity:
        """CVSS v3's qualitative bands."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.NEGLIGIBLE

    @property
    def label(self) -> str:
        return self.name.capitalize()


_NAMES = {
    "unknown": Severity.UNKNOWN, "not yet assigned": Severity.UNKNOWN, "undetermined": Severity.UNKNOWN,
    "negligible": Severity.NEGLIGIBLE, "unimportant": Severity.NEGLIGIBLE, "none": Severity.NEGLIGIBLE,
    "informational": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM, "moderate": Severity.MEDIUM,
    "high": Severity.HIGH, "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}

_CVSS_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


def cvss_score(kind: str, vector: str) -> float | None:
    """The base score of a CVSS vector, or None when the vector does not parse."""
    try:
        if kind == "CVSS_V3":
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V2":
            return float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.debug("unparsable %s vector %r: %s", kind, vector, exc)
    return None


def from_osv(record: Mapping[str, Any]) -> tuple[Severity, str]:
    """(severity, the CVSS vector it came from, or "" when it came from a name or nowhere)."""
    for entries in _severity_lists(record):
        found = _from_vectors(entries)
        if found is not None:
            return found
    named = max((Severity.parse(name) for name in _named_severities(record)), default=Severity.UNKNOWN)
    return named, ""


def _severity_lists(record: Mapping[str, Any]) -> Iterator[list[Any]]:
    """The record's own severity[] first, then each affected[].severity[]."""
    yield _list(record.get("severity"))
    for entry in _list(record.get("affected")):
        if isinstance(entry, Mapping):
            yield _list(entry.get("severity"))


def _from_vectors(entries: list[Any]) -> tuple[Severity, str] | None:
    for kind in _CVSS_PREFERENCE:
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("type") == kind and isinstance(entry.get("score"), str):
                score = cvss_score(kind, entry["score"])
                if score is not None:
                    return Severity.from_score(score), entry["score"]
    return None


def _named_severities(record: Mapping[str, Any]) -> Iterator[object]:
    for entry in _list(record.get("severity")):
        if isinstance(entry, Mapping) and entry.get("type") == "Ubuntu":
            yield entry.get("score")
    yield from _named_in(record.get("database_specific"))
    for entry in _list(record.get("affected")):
        if isinstance(entry, Mapping):
            yield from _named_in(entry.get("ecosystem_specific"))
            yield from _named_in(entry.get("database_specific"))


def _named_in(specific: object) -> Iterator[object]:
    if isinstance(specific, Mapping):
        yield specific.get("severity")
        yield specific.get("urgency")


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
