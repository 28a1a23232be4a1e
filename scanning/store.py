"""The vulnerability store: OSV records upserted by id and `modified`, withdrawn ones removed, and the images
they concern matched again (from their stored packages; no layer is read).

Records go in batches of BATCH, each in its own transaction, so an import of 100,000 records neither holds
one long write lock (SQLite) nor loses all its work to one failure near the end. A new finding at or above
WHARF_SCAN_ALERT_SEVERITY sends scanning.signals.vulnerability_found once its re-match has committed.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.db import write_transaction
from scanning import osv, services
from scanning.models import Advisory, AffectedPackage, Finding, ImportRun
from scanning.packages import canonical_python_name
from scanning.severity import Severity
from scanning.signals import vulnerability_found
from scanning.versions import base_ecosystem

log = logging.getLogger(__name__)

BATCH = 500
Key = tuple[str, str]     # (base ecosystem, package name) as AffectedPackage stores them


def import_source(source: str | Path, progress: Callable[[int], None] | None = None, *,
                  run: ImportRun | None = None) -> ImportRun:
    """Read an OSV source (file, directory, zip or URL: scanning.osv.read) into the store, recording it in
    `run` (one started for the page that asked for it) or in a new ImportRun."""
    run = run or ImportRun.objects.create(source=str(source)[:1024])

    def error(where: str, message: str) -> None:
        run.errors += 1
        log.warning("skipped an OSV record in %s: %s", where, message)

    try:
        return import_records(osv.read(source, errors=error, progress=progress), run=run)
    except osv.SourceError as exc:
        run.error, run.finished_at = str(exc), timezone.now()
        run.save()
        raise


def import_records(records: Iterable[osv.Record], *, source: str = "", run: ImportRun | None = None) -> ImportRun:
    """Upsert the records, remove the withdrawn, then re-match the manifests holding a package they name."""
    run = run or ImportRun.objects.create(source=source[:1024])
    ecosystems: Counter[str] = Counter()
    keys: set[Key] = set()
    orphaned: set[int] = set()     # manifests that lost findings with a withdrawn advisory
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, BATCH)):
        run.records += len(batch)
        for record in batch:
            ecosystems.update({entry.ecosystem for entry in record.affected})
        with write_transaction():
            upserted, removed = _store_batch(batch, keys, orphaned)
        run.upserted += upserted
        run.removed += removed
    run.ecosystems = dict(ecosystems)
    run.rematched = _rematch(keys, orphaned)
    run.finished_at = timezone.now()
    run.save()
    return run


def affected_key(ecosystem: str, name: str) -> Key:
    base = base_ecosystem(ecosystem)
    return base, canonical_python_name(name) if base == "PyPI" else name


def _store_batch(batch: list[osv.Record], keys: set[Key], orphaned: set[int]) -> tuple[int, int]:
    stored = {osv_id: (pk, modified) for osv_id, pk, modified in
              Advisory.objects.filter(osv_id__in=[record.id for record in batch])
              .values_list("osv_id", "pk", "modified")}
    latest: dict[str, osv.Record] = {}
    for record in batch:     # one id twice in a batch: the newer wins, as across batches
        if record.id not in latest or record.modified > latest[record.id].modified:
            latest[record.id] = record
    upserted = removed = 0
    for record in latest.values():
        known = stored.get(record.id)
        if record.withdrawn is not None:
            if known is not None:
                _remove(known[0], keys, orphaned)
                removed += 1
        elif known is None or record.modified > known[1]:
            _upsert(record, known[0] if known else None, keys)
            upserted += 1
    return upserted, removed


def _old_keys(advisory_id: int) -> set[Key]:
    return set(AffectedPackage.objects.filter(advisory_id=advisory_id).values_list("base_ecosystem", "name"))


def _remove(advisory_id: int, keys: set[Key], orphaned: set[int]) -> None:
    keys |= _old_keys(advisory_id)
    orphaned.update(Finding.objects.filter(advisory_id=advisory_id).values_list("manifest_id", flat=True))
    Advisory.objects.filter(pk=advisory_id).delete()   # its affected rows and findings with it


def _upsert(record: osv.Record, advisory_id: int | None, keys: set[Key]) -> None:
    fields = {"merge_key": osv.merge_key(record)[:255], "modified": record.modified, "published": record.published,
              "aliases": record.aliases, "summary": record.summary, "details": record.details,
              "severity": int(record.severity), "vector": record.vector[:255], "references": record.references}
    if advisory_id is None:
        advisory_id = Advisory.objects.create(osv_id=record.id, **fields).pk
    else:
        keys |= _old_keys(advisory_id)
        Advisory.objects.filter(pk=advisory_id).update(**fields)
        AffectedPackage.objects.filter(advisory_id=advisory_id).delete()
    rows = []
    for entry in record.affected:
        base, name = affected_key(entry.ecosystem, entry.name)
        keys.add((base, name))
        rows.append(AffectedPackage(advisory_id=advisory_id, ecosystem=entry.ecosystem[:100], base_ecosystem=base[:50],
                                    name=name[:255], ranges=entry.ranges, versions=entry.versions))
    AffectedPackage.objects.bulk_create(rows, batch_size=BATCH)


def _rematch(keys: set[Key], orphaned: set[int]) -> int:
    """Match again every manifest that holds a package the changed advisories name; alert on what is new."""
    manifests = services.manifests_holding(keys) | orphaned
    threshold = Severity.parse(settings.WHARF_SCAN_ALERT_SEVERITY)
    for manifest_id in sorted(manifests):
        new = services.rematch(manifest_id)
        alerts = [finding.pk for finding in new if finding.severity >= threshold]
        if alerts:
            transaction.on_commit(lambda ids=alerts: _announce(ids))    # type: ignore[misc]
    return len(manifests)


def _announce(finding_ids: list[int]) -> None:
    for finding in _findings(finding_ids):
        vulnerability_found.send(
            Finding, finding=finding, manifest_id=finding.manifest_id, repository_id=finding.manifest.repository_id,
            advisory=finding.advisory.osv_id, merge_key=finding.merge_key, package=finding.package.name,
            version=finding.package.version, severity=Severity(finding.severity),
            fixed_version=finding.fixed_version)


def _findings(ids: list[int]) -> Iterator[Finding]:
    yield from Finding.objects.filter(pk__in=ids).select_related("manifest", "advisory", "package").order_by("pk")
