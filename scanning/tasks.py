"""Celery tasks of the `scans` queue: scan one manifest; put back what a lost message or worker left behind;
import advisories for the superuser page."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from scanning import osv, receivers, services, store
from scanning.models import ImportRun, ScanStatus, ScanSummary

log = logging.getLogger(__name__)

IMPORT_TIME_LIMIT = 4 * 3600   # a whole osv.dev ecosystem zip, downloaded and matched


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


@shared_task(soft_time_limit=IMPORT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT + 60)
def import_advisories(source: str, run_id: int) -> int | None:
    """Import an OSV source (a file, zip or URL: scanning.store.import_source) into the ImportRun the
    superuser page created; returns the records read, or None when the run is gone or finished already (a
    duplicate delivery). A file uploaded into DATA_DIR/imports/ is deleted afterwards, whatever the outcome."""
    try:
        run = ImportRun.objects.filter(pk=run_id, finished_at__isnull=True).first()
        if run is None:
            return None
        try:
            return store.import_source(source, run=run).records
        except osv.SourceError:
            return None   # import_source recorded why on the run
        except Exception as exc:
            too_long = isinstance(exc, SoftTimeLimitExceeded)
            reason = "the import took too long" if too_long else f"internal error: {exc!r}"
            ImportRun.objects.filter(pk=run_id).update(error=reason[:2000], finished_at=timezone.now())
            raise
    finally:
        discard_upload(source)


def uploads_dir() -> Path:
    """Where the superuser page keeps an uploaded advisory file until its import has read it."""
    return Path(settings.DATA_DIR) / "imports"


def discard_upload(source: str) -> None:
    # Only a file the page put there: a path or URL an administrator typed is never deleted.
    path = Path(source)
    if not source.startswith(("http://", "https://")) and path.resolve().parent == uploads_dir().resolve():
        path.unlink(missing_ok=True)
