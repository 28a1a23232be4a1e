"""Periodic registry housekeeping (expiring tags is the portal's job, because it is audited:
portal/repositories/tasks.py)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from registry_api import services
from registry_api.services import gc, tags


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def purge_stale_uploads() -> int:
    """Cancel upload sessions idle longer than WHARF_UPLOAD_EXPIRY_SECONDS; safe to run twice."""
    cutoff = timezone.now() - timedelta(seconds=settings.WHARF_UPLOAD_EXPIRY_SECONDS)
    return services.purge_stale_uploads(cutoff)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def checkpoint_sqlite() -> str:
    """Copy SQLite's write-ahead log into the database without blocking writers (a no-op elsewhere)."""
    if connection.vendor != "sqlite":
        return "not sqlite"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        busy, log_pages, checkpointed = cursor.fetchone()
    return f"{checkpointed}/{log_pages} pages"


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, ignore_result=True)
def prune_tag_history() -> int:
    """Forget tag history older than WHARF_TAG_HISTORY_DAYS."""
    return tags.prune_tag_history(timezone.now() - timedelta(days=settings.WHARF_TAG_HISTORY_DAYS))


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1860, ignore_result=True)
def collect_garbage() -> int:
    """Remove unreferenced manifests, links, blobs and storage debris (services/gc.py); a second run at once
    only finds less to do, and one stopped half-way leaves nothing half-removed."""
    return gc.run().blobs_removed
