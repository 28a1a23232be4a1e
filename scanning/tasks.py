"""Celery tasks of the `scans` queue: scan one manifest; put back what a lost message or worker left behind;
import advisories (an upload or a URL given on the superuser page or through the API)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from registry_api import storage
from scanning import osv, receivers, services, store
from scanning.models import ImportRun, ScanStatus, ScanSummary

log = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=settings.WHARF_SCAN_TIME_LIMIT,
             time_limit=settings.WHARF_SCAN_TIME_LIMIT + 60)
def scan_manifest(manifest_id: int) -> str | None:
    """Scan one manifest; a duplicate delivery finds nothing queued to claim and returns None."""
    try:
        return services.scan(manifest_id)
    except SoftTimeLimitExceeded:
        reason = f"the scan took longer than {settings.WHARF_SCAN_TIME_LIMIT} s"
        ScanSummary.objects.filter(manifest_id=manifest_id, status=ScanStatus.SCANNING).update(
            status=ScanStatus.FAILED, reason=reason, scanned_at=timezone.now())
        log.warning("manifest %s: %s", manifest_id, reason)
        return ScanStatus.FAILED
    except Exception as exc:
        # A bug or a lost database must not leave the row "scanning" until the periodic job: say so; a
        # re-scan tries again.
        ScanSummary.objects.filter(manifest_id=manifest_id, status=ScanStatus.SCANNING).update(
            status=ScanStatus.FAILED, reason=f"internal error: {exc!r}"[:2000], scanned_at=timezone.now())
        raise


@shared_task
def requeue_stuck_scans() -> int:
    """Send again the scans left queued (a lost message, a broker that was down) or scanning (a worker that
    died) for longer than WHARF_SCAN_STUCK_SECONDS; returns how many."""
    before = timezone.now() - timedelta(seconds=settings.WHARF_SCAN_STUCK_SECONDS)
    stuck = list(ScanSummary.objects.filter(status__in=[ScanStatus.QUEUED, ScanStatus.SCANNING], updated_at__lt=before)
                 .values_list("manifest_id", flat=True)[:1000])
    if stuck:
        ScanSummary.objects.filter(manifest_id__in=stuck, updated_at__lt=before).update(
            status=ScanStatus.QUEUED, updated_at=timezone.now())
    for manifest_id in stuck:
        receivers.send(manifest_id)
    return len(stuck)


UPLOAD_PREFIX = "storage:"   # a source kept in blob storage (an upload), so any worker node can read it
IMPORT_TIME_LIMIT = 6 * 3600   # a whole osv.dev ecosystem zip, downloaded and matched


@shared_task(acks_late=True, soft_time_limit=IMPORT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT + 60)
def import_advisories(source: str, run_id: int | None = None) -> int | None:
    """Import an OSV source (scanning.store.import_source) into the run `run_id` (created by the page or the API
    so it can name the import at once); a source `storage:<key>` is an upload kept in blob storage, deleted
    afterwards whatever the outcome. Returns the run's id; None when the run is gone or finished already (a
    duplicate delivery) or the source could not be read (the run records why)."""
    try:
        run = ImportRun.objects.filter(pk=run_id, finished_at__isnull=True).first() if run_id else None
        if run_id and run is None:
            return None
        key = source[len(UPLOAD_PREFIX):] if source.startswith(UPLOAD_PREFIX) else None
        try:
            with _local_copy(key) if key else nullcontext(source) as path:
                return store.import_source(path, run=run).pk
        except osv.SourceError as exc:
            log.warning("import of %s failed: %s", source, exc)
            return None
        except Exception as exc:
            too_long = isinstance(exc, SoftTimeLimitExceeded)
            reason = "the import took too long" if too_long else f"internal error: {exc!r}"
            if run_id:
                ImportRun.objects.filter(pk=run_id).update(error=reason[:2000], finished_at=timezone.now())
            raise
    finally:
        discard_upload(source)


def keep_upload(chunks: Iterable[bytes], run_id: int) -> str:
    """Put an uploaded advisory file in blob storage (a worker on any node reads it); the task's source for it."""
    key = f"scanning/imports/{run_id}"
    writer = storage.backend().writer(key)
    try:
        for chunk in chunks:
            writer.write(chunk)
        writer.flush()
    finally:
        writer.close()
    return UPLOAD_PREFIX + key


def discard_upload(source: str) -> None:
    """Delete a kept upload (never a path or URL an administrator typed)."""
    if source.startswith(UPLOAD_PREFIX):
        storage.backend().delete(source[len(UPLOAD_PREFIX):])


@contextmanager
def _local_copy(key: str) -> Iterator[str]:
    """The stored upload as a temporary file (osv.read reads files, zips member by member)."""
    with tempfile.TemporaryDirectory(prefix="osv-upload-") as folder:
        path = Path(folder) / "upload"
        with storage.backend().open(key) as stream, path.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        yield str(path)
