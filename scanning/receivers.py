"""manifest_pushed → a queued summary, and the scan task sent once that row has committed."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from scanning import services

log = logging.getLogger(__name__)


def manifest_pushed(sender: Any, manifest: Any, **kwargs: Any) -> None:
    """Every push of a manifest without a summary queues its scan. A push never fails for scanning's sake: a
    broker that is down leaves the row queued, and the periodic job sends it again."""
    try:
        created = services.queue(manifest.id)
    except Exception:   # noqa: BLE001 (the push has committed; its answer must not turn into an error)
        log.exception("could not queue a scan of manifest %s", manifest.id)
        return
    if created:
        transaction.on_commit(lambda: send(manifest.id))


def send(manifest_id: int) -> bool:
    """Put the scan on the `scans` queue; False (logged) when the broker cannot take it."""
    from portal.broker import enqueue
    from scanning.tasks import scan_manifest

    return enqueue(scan_manifest, manifest_id)
