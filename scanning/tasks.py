"""Celery tasks of the `scans` queue: scan one manifest; put back what a lost message or worker left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from scanning import receivers, services
from scanning.models import ScanStatus, ScanSummary

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
