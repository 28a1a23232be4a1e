"""Scanning a manifest, and matching stored inventories again: the transactional rules of scanning.

A scan claims its summary (queued → scanning, one conditional UPDATE, so a duplicate delivery does nothing),
indexes the image's layers (scanning.index), replaces its packages, matches them (scanning.match) and writes
the findings and counts. An index (manifest list) has no packages of its own: its platforms are scanned and
its summary is the worst of theirs. Re-matching after an import reads no layer: the packages are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from portal.db import write_transaction
from registry_api import content
from registry_api.models import Manifest
from scanning import backends, index, match, sbom
from scanning.inventory import Inventory
from scanning.layers import LayerError
from scanning.models import FINAL_STATUSES, Finding, ImagePackage, ScanStatus, ScanSummary

log = logging.getLogger(__name__)

SEVERITY_FIELDS = ("critical", "high", "medium", "low", "negligible", "unknown")


def queue(manifest_id: int) -> bool:
    """Create the manifest's summary as queued; False when it has one already (then it is not scanned again)."""
    _, created = ScanSummary.objects.get_or_create(manifest_id=manifest_id)
    return created


def request_rescan(manifest_id: int) -> bool:
    """Put a manifest back in the queue (unless a scan is running), forgetting its layers' cached failures;
    the caller sends the task. False when a scan is running already."""
    manifest = Manifest.objects.filter(pk=manifest_id).first()
    if manifest is None:
        return False
    index.forget_failed_layers(manifest)
    for child_id in manifest.children.values_list("pk", flat=True):
        request_rescan(child_id)
    summary, created = ScanSummary.objects.get_or_create(manifest_id=manifest_id)
    if created:
        return True
    return bool(ScanSummary.objects.filter(pk=summary.pk).exclude(status=ScanStatus.SCANNING)
                .update(status=ScanStatus.QUEUED, reason=""))


def claim(manifest_id: int) -> bool:
    """queued → scanning; of two workers given the same manifest, one wins."""
    return bool(ScanSummary.objects.filter(manifest_id=manifest_id, status=ScanStatus.QUEUED)
                .update(status=ScanStatus.SCANNING, updated_at=timezone.now()))


def scan(manifest_id: int) -> str | None:
    """Scan a queued manifest; returns its final status, or None when there was nothing to claim (gone,
    already scanned, or being scanned by another worker)."""
    if not claim(manifest_id):
        return None
    manifest = Manifest.objects.filter(pk=manifest_id).first()
    if manifest is None:
        return None
    if manifest.media_type in content.INDEXES:
        return _scan_index(manifest)
    status = _scan_image(manifest)
    aggregate_parents([manifest_id])
    return status


def _scan_image(manifest: Manifest) -> str:
    try:
        indexed = backends.configured().index(manifest)
    except index.Unsupported as exc:
        return _finish(manifest.pk, ScanStatus.UNSUPPORTED, exc.reason)
    except (LayerError, backends.ScanFailed) as exc:
        return _finish(manifest.pk, ScanStatus.FAILED, exc.reason)
    with write_transaction():
        ImagePackage.objects.filter(manifest=manifest).delete()   # and their findings, by cascade
        packages = ImagePackage.objects.bulk_create(indexed.packages, batch_size=500)
        match.write_findings(manifest.pk, packages, indexed.match(packages))
        _write_counts(manifest.pk, ScanStatus.DONE, scanned=True)
    if indexed.inventory is not None:
        _attach_sbom(manifest, indexed.inventory)
    return ScanStatus.DONE


def _attach_sbom(manifest: Manifest, inventory: Inventory) -> None:
    """The image's CycloneDX SBOM, pushed beside it as an OCI referrer (`oras discover` finds it). A by-product:
    when it cannot be stored the scan still stands, and the log says why."""
    from registry_api.services import blobs

    try:
        full_name = str(manifest.repository.full_name)
        repository = blobs.get_repository(full_name)
        if repository is None:
            return
        document = sbom.sbom_document(inventory, image_digest=manifest.digest, repository=full_name,
                                      created=timezone.now())
        sbom.attach_sbom(repository, image_digest=manifest.digest, image_media_type=manifest.media_type,
                         image_size=manifest.size, document=document)
    except Exception:   # noqa: BLE001
        log.exception("could not attach the SBOM of manifest %s", manifest.pk)


def _finish(manifest_id: int, status: str, reason: str) -> str:
    with write_transaction():
        ImagePackage.objects.filter(manifest_id=manifest_id).delete()
        ScanSummary.objects.filter(manifest_id=manifest_id).update(
            status=status, reason=reason[:2000], scanned_at=timezone.now(), fixable=0,
            **dict.fromkeys(SEVERITY_FIELDS, 0))
    return status


def _write_counts(manifest_id: int, status: str, scanned: bool = False) -> None:
    fields: dict[str, object] = {"status": status, "reason": "", **match.counts(manifest_id)}
    if scanned:
        fields["scanned_at"] = timezone.now()
    ScanSummary.objects.filter(manifest_id=manifest_id).update(**fields)


# --- Indexes -------------------------------------------------------------------------------------------------

def _scan_index(manifest: Manifest) -> str | None:
    """Scan the platforms that wait for it here; those another worker scans report back through
    aggregate_parents when they finish."""
    for child_id in manifest.children.values_list("pk", flat=True):
        queue(child_id)
        scan(child_id)    # claims it if queued; a platform scanned or being scanned elsewhere is left alone
    return aggregate(manifest.pk)


@dataclass(frozen=True)
class _Child:
    digest: str
    status: str
    reason: str
    counts: tuple[int, ...]
    fixable: int


def aggregate(index_id: int) -> str | None:
    """An index's summary from its platforms': the worst platform's counts; failed if any failed, done if any
    was scanned, else unsupported. None (the index stays scanning) while a platform is not final yet."""
    children = [_Child(digest, status, reason, tuple(values), fixable) for digest, status, reason, fixable, *values in
                ScanSummary.objects.filter(manifest__parents=index_id).values_list(
                    "manifest__digest", "status", "reason", "fixable", *SEVERITY_FIELDS)]
    total = Manifest.objects.filter(parents=index_id).count()
    if len(children) < total or any(child.status not in FINAL_STATUSES for child in children):
        return None
    scanned = [child for child in children if child.status == ScanStatus.DONE]
    failed = [child for child in children if child.status == ScanStatus.FAILED]
    worst = max(scanned, key=lambda child: child.counts, default=None)
    fields: dict[str, object] = dict(zip(SEVERITY_FIELDS, worst.counts if worst else (0,) * 6, strict=True))
    fields["fixable"] = worst.fixable if worst else 0
    if failed:
        status, reason = ScanStatus.FAILED, "; ".join(f"{child.digest}: {child.reason}" for child in failed)
    elif scanned:
        status, reason = ScanStatus.DONE, ""
    else:
        status, reason = ScanStatus.UNSUPPORTED, "no platform of this index is an image"
    ScanSummary.objects.filter(manifest_id=index_id).update(
        status=status, reason=reason[:2000], scanned_at=timezone.now(), **fields)
    return status


def aggregate_parents(manifest_ids: Iterable[int]) -> None:
    """Bring the summaries of the indexes that list these manifests up to date."""
    parents = set(Manifest.objects.filter(children__in=list(manifest_ids), scan_summary__isnull=False)
                  .values_list("pk", flat=True))
    for parent_id in parents:
        aggregate(parent_id)


# --- Re-matching --------------------------------------------------------------------------------------------

def manifests_holding(keys: Iterable[tuple[str, str]]) -> set[int]:
    """The manifests whose packages an advisory naming any (base ecosystem, name) may concern, by binary or
    source name (a superset: matching decides)."""
    by_base: dict[str, set[str]] = {}
    for base, name in keys:
        by_base.setdefault(base, set()).add(name)
    found: set[int] = set()
    for base, names in by_base.items():
        ordered = sorted(names)
        for start in range(0, len(ordered), match.NAMES_PER_QUERY):
            chunk = ordered[start:start + match.NAMES_PER_QUERY]
            found.update(ImagePackage.objects.filter(
                Q(base_ecosystem=base) & (Q(name__in=chunk) | Q(source_name__in=chunk))
            ).values_list("manifest_id", flat=True).distinct())
    return found


def rematch(manifest_id: int) -> list[Finding]:
    """Match a scanned manifest's stored packages again (no layer is read); returns its new findings. Nothing
    with an external scanner: its findings come from its own store (a re-scan asks it again)."""
    if not backends.matches_locally():
        return []
    with write_transaction():
        if not ScanSummary.objects.filter(manifest_id=manifest_id, status=ScanStatus.DONE).exists():
            return []    # being scanned (the scan matches against the new store) or never scanned
        packages = list(ImagePackage.objects.filter(manifest_id=manifest_id))
        new = match.write_findings(manifest_id, packages, match.match(packages))
        _write_counts(manifest_id, ScanStatus.DONE)
    aggregate_parents([manifest_id])
    return new

