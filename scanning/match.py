"""Matching an image's packages against the advisory store, and writing the findings and counts.

One query fetches every candidate `affected` entry for all of an inventory's names at once (by base
ecosystem and name, on affected_package_name); each candidate is then kept only for the package's release
(versions.same_release) and evaluated with the OSV rules (versions.affected). Which name a package matches
by: Debian and Ubuntu advisories name source packages and Alpine's name origins, so dpkg and apk packages
match by source name and source version; rpm advisories name binary packages (some name sources), so rpm
packages try both; language packages match by their own name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, Q

from scanning.models import AffectedPackage, Finding, ImagePackage
from scanning.severity import Severity
from scanning.versions import affected, comparator, same_release

NAMES_PER_QUERY = 500     # SQLite's bound on parameters (999 before 3.32) with room for the rest
COUNT_FIELDS = {Severity.CRITICAL: "critical", Severity.HIGH: "high", Severity.MEDIUM: "medium",
                Severity.LOW: "low", Severity.NEGLIGIBLE: "negligible", Severity.UNKNOWN: "unknown"}


@dataclass(frozen=True)
class Hit:
    advisory_id: int
    severity: int
    fixed_version: str


@dataclass(frozen=True)
class _Candidate:
    advisory_id: int
    ecosystem: str
    ranges: list[Any]
    versions: list[Any]
    merge_key: str
    severity: int


def lookups(package: ImagePackage) -> list[tuple[str, str]]:
    """(name, version) pairs an advisory may name this package by."""
    if package.kind in ("dpkg", "apk"):
        return [(package.source_name or package.name, package.source_version or package.version)]
    pairs = [(package.name, package.version)]
    if package.kind == "rpm" and package.source_name and package.source_name != package.name:
        pairs.append((package.source_name, package.source_version or package.version))
    return pairs


def match(packages: Sequence[ImagePackage]) -> dict[tuple[int, str], Hit]:
    """(package id, merge key) → the merged finding: the highest severity, the lowest fixed version."""
    candidates = _candidates(packages)
    hits: dict[tuple[int, str], Hit] = {}
    for package in packages:
        for name, version in lookups(package):
            for candidate in candidates.get((package.base_ecosystem, name), ()):
                if not same_release(package.ecosystem, candidate.ecosystem):
                    continue
                verdict = affected(candidate.ecosystem, version, candidate)
                if verdict.affected:
                    key = (package.pk, candidate.merge_key)
                    hits[key] = _merge(hits.get(key), candidate, verdict.fixed or "", package.ecosystem)
    return hits


def _merge(old: Hit | None, candidate: _Candidate, fixed: str, ecosystem: str) -> Hit:
    if old is None:
        return Hit(candidate.advisory_id, candidate.severity, fixed)
    fixes = [value for value in (old.fixed_version, fixed) if value]
    lowest = min(fixes, key=_sort_key(ecosystem)) if fixes else ""
    if (candidate.severity, -candidate.advisory_id) > (old.severity, -old.advisory_id):
        return Hit(candidate.advisory_id, candidate.severity, lowest)
    return Hit(old.advisory_id, old.severity, lowest)


def _sort_key(ecosystem: str) -> Any:
    from functools import cmp_to_key

    return cmp_to_key(comparator(ecosystem))


def _candidates(packages: Sequence[ImagePackage]) -> dict[tuple[str, str], list[_Candidate]]:
    names: dict[str, set[str]] = defaultdict(set)
    for package in packages:
        if package.base_ecosystem:
            names[package.base_ecosystem].update(name for name, _ in lookups(package))
    found: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for condition in _conditions(names):
        rows = AffectedPackage.objects.filter(condition).values_list(
            "base_ecosystem", "name", "advisory_id", "ecosystem", "ranges", "versions",
            "advisory__merge_key", "advisory__severity")
        for base, name, advisory_id, ecosystem, ranges, versions, merge_key, severity in rows:
            found[(base, name)].append(_Candidate(advisory_id, ecosystem, ranges or [], versions or [],
                                                  merge_key, severity))
    return found


def _conditions(names: dict[str, set[str]]) -> Iterable[Q]:
    """One Q per query, each naming at most NAMES_PER_QUERY names (usually one query for an image)."""
    batch: list[Q] = []
    size = 0
    for base, group in sorted(names.items()):
        ordered = sorted(group)
        for start in range(0, len(ordered), NAMES_PER_QUERY):
            chunk = ordered[start:start + NAMES_PER_QUERY]
            if size + len(chunk) > NAMES_PER_QUERY and batch:
                yield reduce(or_, batch)
                batch, size = [], 0
            batch.append(Q(base_ecosystem=base, name__in=chunk))
            size += len(chunk)
    if batch:
        yield reduce(or_, batch)


def write_findings(manifest_id: int, packages: Sequence[ImagePackage],
                   hits: dict[tuple[int, str], Hit]) -> list[Finding]:
    """Make the manifest's findings equal `hits` (inside the caller's transaction): create, update, delete.
    Returns the findings that are new, the ones a vulnerability_found event is about."""
    existing = {(finding.package_id, finding.merge_key): finding
                for finding in Finding.objects.filter(manifest_id=manifest_id)}
    by_id = {package.pk: package for package in packages}
    new, changed = [], []
    for key, hit in hits.items():
        finding = existing.pop(key, None)
        if finding is None:
            new.append(Finding(manifest_id=manifest_id, package=by_id[key[0]], advisory_id=hit.advisory_id,
                               merge_key=key[1], severity=hit.severity, fixed_version=hit.fixed_version[:255]))
        elif (finding.advisory_id, finding.severity, finding.fixed_version) != (
                hit.advisory_id, hit.severity, hit.fixed_version[:255]):
            finding.advisory_id, finding.severity = hit.advisory_id, hit.severity
            finding.fixed_version = hit.fixed_version[:255]
            changed.append(finding)
    if existing:
        Finding.objects.filter(pk__in=[finding.pk for finding in existing.values()]).delete()
    Finding.objects.bulk_update(changed, ["advisory", "severity", "fixed_version"], batch_size=500)
    return Finding.objects.bulk_create(new, batch_size=500)


def counts(manifest_id: int) -> dict[str, int]:
    """The summary's counts of one manifest's findings: per severity, and how many have a fix."""
    result = dict.fromkeys(COUNT_FIELDS.values(), 0)
    rows = Finding.objects.filter(manifest_id=manifest_id).values("severity").annotate(
        n=Count("id"), fixable=Count("id", filter=~Q(fixed_version="")))
    result["fixable"] = 0
    for row in rows:
        result[COUNT_FIELDS[Severity(row["severity"])]] += row["n"]
        result["fixable"] += row["fixable"]
    return result
