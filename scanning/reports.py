"""What the scanner found, as the API reads it: one manifest's findings and packages (filtered, in a stable
order for paging), an index's platforms with their summaries, and the advisory store's freshness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet

from registry_api import content
from registry_api.models import Manifest
from scanning.models import Advisory, AffectedPackage, Finding, ImagePackage, ImportRun, ScanSummary
from scanning.severity import Severity


def summary_of(manifest_id: int) -> ScanSummary | None:
    return ScanSummary.objects.filter(manifest_id=manifest_id).first()


def findings(manifest_id: int, at_least: Severity | None = None, fixable: bool | None = None) -> QuerySet[Finding]:
    """The manifest's findings, worst first; `at_least` a severity, `fixable` only those with (or without) a fix."""
    rows = Finding.objects.filter(manifest_id=manifest_id).select_related("package", "advisory")
    if at_least is not None:
        rows = rows.filter(severity__gte=int(at_least))
    if fixable is not None:
        rows = rows.exclude(fixed_version="") if fixable else rows.filter(fixed_version="")
    return rows.order_by("-severity", "package__name", "merge_key", "pk")


def packages(manifest_id: int, name: str = "") -> QuerySet[ImagePackage]:
    """The manifest's inventory by name; `name` keeps the packages whose name contains it."""
    rows = ImagePackage.objects.filter(manifest_id=manifest_id)
    if name:
        rows = rows.filter(name__icontains=name)
    return rows.order_by("name", "version", "kind", "pk")


@dataclass(frozen=True)
class Platform:
    digest: str
    os: str
    architecture: str
    variant: str
    summary: ScanSummary | None


def platforms(index: Manifest) -> list[Platform]:
    """An index's platforms in its own order, each with its summary (None: not scanned)."""
    if index.media_type not in content.INDEXES:
        return []
    entries = [entry for entry in content.read_object(bytes(index.content)).get("manifests") or []
               if isinstance(entry, dict)]
    children = {row.digest: row.pk for row in index.children.only("digest")}
    found = {row.manifest_id: row for row in ScanSummary.objects.filter(manifest_id__in=children.values())}
    result = []
    for entry in entries:
        digest = str(entry.get("digest", ""))
        platform = entry.get("platform")
        platform = platform if isinstance(platform, dict) else {}
        child = children.get(digest)
        result.append(Platform(digest, str(platform.get("os", "")), str(platform.get("architecture", "")),
                               str(platform.get("variant", "")), found.get(child) if child else None))
    return result


def freshness() -> dict[str, Any]:
    """The store: advisories per ecosystem (as OSV names it) and the last import that finished."""
    per_ecosystem = dict(AffectedPackage.objects.values_list("ecosystem").annotate(n=Count("advisory", distinct=True))
                         .order_by("ecosystem").values_list("ecosystem", "n"))
    last = ImportRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-pk").first()
    return {"advisories": Advisory.objects.count(), "ecosystems": per_ecosystem, "last_import": last}
