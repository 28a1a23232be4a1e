"""What the security pages show of one scanned manifest: its findings grouped by package, its package
inventory, its SBOM referrer, and how fresh the advisory store is.

Each layer is named with the Dockerfile step that made it, read from the image config's history the way the
manifest page reads it (registry_api.content.layers). Reads only; the scan itself is scanning.services.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Generic, TypeVar

from django.db.models import Max

from registry_api import content, storage
from registry_api.models import Manifest
from registry_api.services.manifests import image_config
from scanning import sbom
from scanning.models import Finding, ImagePackage, ImportRun
from scanning.severity import Severity
from scanning.summaries import Summary, summaries

OSV_URL = "https://osv.dev/vulnerability/"
MAX_PER_PAGE = 500
FRESHNESS_RUNS = 100   # the newest imports read to say when each ecosystem was last imported
T = TypeVar("T")


@dataclass(frozen=True)
class Layer:
    number: int     # 1-based, as the manifest page counts them
    digest: str
    command: str    # the Dockerfile step ("" when the history does not say)


@dataclass(frozen=True)
class FindingRow:
    advisory_id: str
    url: str
    aliases: list[str]
    summary: str
    severity: Severity
    fixed_version: str


@dataclass
class PackageGroup:
    name: str
    version: str
    kind: str
    ecosystem: str
    path: str
    layer: Layer | None
    severity: Severity                 # the worst of its findings
    findings: list[FindingRow] = field(default_factory=list)


@dataclass(frozen=True)
class PackageRow:
    name: str
    version: str
    kind: str
    ecosystem: str
    source: str      # "name version" of the source package, when it differs
    path: str
    layer: Layer | None


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    num_pages: int


@dataclass(frozen=True)
class EcosystemFreshness:
    ecosystem: str
    records: int
    imported_at: datetime


@dataclass(frozen=True)
class Freshness:
    last_finished: datetime | None
    ecosystems: list[EcosystemFreshness]


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str
    digest: str
    scan: Summary | None


def platforms(manifest: Manifest) -> list[Platform]:
    """The platforms an index lists, each with its scan summary ([] for an image). Two statements."""
    if manifest.media_type not in content.INDEXES:
        return []
    entries = content.index_entries(content.read_object(bytes(manifest.content)))
    ids = dict(Manifest.objects.filter(repository_id=manifest.repository_id,
                                       digest__in={entry.digest for entry in entries}).values_list("digest", "id"))
    scans = summaries(ids.values())
    return [Platform(e.os, e.architecture, e.variant, e.digest, scans.get(ids.get(e.digest, -1))) for e in entries]


def layers_of(manifest: Manifest) -> dict[str, Layer]:
    """layer digest → the layer with its number and build step (one read of the image config)."""
    document = content.read_object(bytes(manifest.content))
    return {layer.digest: Layer(number, layer.digest, layer.command)
            for number, layer in enumerate(content.layers(document, image_config(document)), start=1)}


def _page_bounds(total: int, page: int, per_page: int) -> tuple[int, int, int]:
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    num_pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), num_pages)
    return page, num_pages, (page - 1) * per_page


def findings_page(manifest: Manifest, *, min_severity: Severity = Severity.UNKNOWN, fixable: bool = False,
                  page: int = 1, per_page: int = 50) -> Page[PackageGroup]:
    """The manifest's affected packages, worst first, each with its findings at or above `min_severity`
    (only those naming a fixed version with `fixable`); paged by package. Three statements and one config
    read: the count, the page's packages, their findings."""
    findings = Finding.objects.filter(manifest=manifest, severity__gte=int(min_severity))
    if fixable:
        findings = findings.exclude(fixed_version="")
    worst = findings.values("package_id").annotate(worst=Max("severity"))
    total = worst.count()
    page, num_pages, start = _page_bounds(total, page, per_page)
    ordered = list(worst.order_by("-worst", "package__name", "package__version", "package_id")
                   .values_list("package_id", "worst")[start:start + min(max(per_page, 1), MAX_PER_PAGE)])
    rows = (findings.filter(package_id__in=[package_id for package_id, _ in ordered])
            .select_related("package", "advisory").order_by("-severity", "advisory__osv_id"))
    layers = layers_of(manifest) if ordered else {}
    groups: dict[int, PackageGroup] = {}
    for package_id, severity in ordered:
        groups[package_id] = PackageGroup("", "", "", "", "", None, Severity(severity))
    for finding in rows:
        group, package, advisory = groups[finding.package_id], finding.package, finding.advisory
        if not group.name:
            group.name, group.version, group.kind = package.name, package.version, package.kind
            group.ecosystem, group.path, group.layer = package.ecosystem, package.path, layers.get(package.layer_digest)
        group.findings.append(FindingRow(advisory.osv_id, OSV_URL + advisory.osv_id,
                                         [str(alias) for alias in advisory.aliases or []], advisory.summary,
                                         Severity(finding.severity), finding.fixed_version))
    return Page(list(groups.values()), total, page, num_pages)


def packages_page(manifest: Manifest, *, name: str = "", page: int = 1, per_page: int = 100) -> Page[PackageRow]:
    """The manifest's whole inventory by name; `name` is a case-insensitive substring."""
    packages = ImagePackage.objects.filter(manifest=manifest)
    if name:
        packages = packages.filter(name__icontains=name)
    total = packages.count()
    page, num_pages, start = _page_bounds(total, page, per_page)
    rows = list(packages.order_by("name", "version", "id")[start:start + min(max(per_page, 1), MAX_PER_PAGE)])
    layers = layers_of(manifest) if rows else {}
    return Page([PackageRow(p.name, p.version, p.kind, p.ecosystem or p.base_ecosystem, _source(p), p.path,
                            layers.get(p.layer_digest)) for p in rows], total, page, num_pages)


def _source(package: ImagePackage) -> str:
    if not package.source_name or (package.source_name, package.source_version or package.version) == (
            package.name, package.version):
        return ""
    return f"{package.source_name} {package.source_version}".strip()


def sbom_referrer(manifest: Manifest) -> Manifest | None:
    """The newest CycloneDX SBOM whose subject is this manifest, in its repository (None before a scan made
    one)."""
    return (Manifest.objects.filter(repository_id=manifest.repository_id, subject_digest=manifest.digest,
                                    artifact_type=sbom.MEDIA_TYPE)
            .order_by("-created_at", "-id").first())


def open_sbom(manifest: Manifest) -> IO[bytes] | None:
    """The SBOM document of the manifest's SBOM referrer, open for reading; None when there is none (or its
    blob is gone)."""
    referrer = sbom_referrer(manifest)
    if referrer is None:
        return None
    layers = content.read_object(bytes(referrer.content)).get("layers")
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict):
        return None
    digest = str(layers[0].get("digest", ""))
    try:
        return storage.backend().open(storage.blob_key(digest))
    except (FileNotFoundError, ValueError):
        return None


def freshness() -> Freshness:
    """When the store last finished an import, and for each ecosystem the records of its latest import."""
    runs = list(ImportRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-id")
                .values_list("finished_at", "ecosystems")[:FRESHNESS_RUNS])
    seen: dict[str, EcosystemFreshness] = {}
    for finished_at, ecosystems in runs:
        if finished_at is None:   # filtered out above; for the type checker
            continue
        for ecosystem, records in (ecosystems or {}).items():
            seen.setdefault(ecosystem, EcosystemFreshness(ecosystem, int(records), finished_at))
    return Freshness(runs[0][0] if runs else None, sorted(seen.values(), key=lambda e: e.ecosystem))
