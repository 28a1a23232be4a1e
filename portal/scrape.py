"""GET /metrics: Prometheus' text format, summed over every gunicorn worker.

What the processes counted (portal/metrics.py) is read from PROMETHEUS_MULTIPROC_DIR when it is set (under
gunicorn: portal/gunicorn.conf.py), else from this process. What is cheaper to read than to keep is read at
scrape time: upload sessions open (the Upload table), messages waiting per Celery queue (the broker), and the
families other parts of Wharf registered with portal.metrics.on_scrape. A reading that fails (the database is
down) is left out and logged; the rest of the scrape still answers.

With WHARF_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (compared in constant time);
unset, /metrics is open like /healthz, for a network where only the scraper reaches it.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from portal import broker, metrics
from registry_api.models import GcRun, Upload

log = logging.getLogger(__name__)


class ScrapeTime:
    """The readings taken at each scrape."""

    def describe(self) -> list[Metric]:
        return []   # nothing to check for clashes: registering must not run a query

    def collect(self) -> Iterable[Metric]:
        try:
            open_uploads = Upload.objects.count()
        except Exception:   # noqa: BLE001 (the database is down: /readyz says so; the rest still scrapes)
            log.warning("metrics: could not count upload sessions", exc_info=True)
        else:
            yield GaugeMetricFamily("wharf_upload_sessions_open", "Blob upload sessions begun and not finished.",
                                    value=open_uploads)
        try:
            lengths = broker.queue_lengths(settings.WHARF_READY_TIMEOUT)
        except Exception:   # noqa: BLE001
            log.warning("metrics: could not read the queue lengths", exc_info=True)
        else:
            family = GaugeMetricFamily("wharf_celery_queue_length", "Messages waiting in each Celery queue.",
                                       labels=["queue"])
            for queue, length in lengths.items():
                family.add_metric([queue], length)
            yield family
        try:
            last = GcRun.objects.filter(dry_run=False, finished_at__isnull=False).order_by("-started_at").first()
        except Exception:   # noqa: BLE001
            log.warning("metrics: could not read the last garbage collection", exc_info=True)
        else:
            yield from _last_gc(last)
        yield from metrics.scraped()


def _last_gc(run: GcRun | None) -> Iterable[Metric]:
    """The last finished garbage collection, from its record: runs happen in Celery workers on other hosts,
    whose own counters no web node can see."""
    if run is None or run.finished_at is None:
        return
    readings = (("finished_timestamp_seconds", "When it finished (Unix time).", run.finished_at.timestamp()),
                ("duration_seconds", "How long it ran.", run.duration_seconds or 0.0),
                ("manifests_removed", "Manifests it removed.", run.manifests_removed),
                ("blobs_removed", "Blobs it removed.", run.blobs_removed),
                ("bytes_freed", "Bytes it freed in storage.", run.bytes_freed),
                ("failed", "1 when it ended with an error.", 1 if run.error else 0))
    for name, help_text, value in readings:
        yield GaugeMetricFamily(f"wharf_gc_last_run_{name}", f"The last garbage collection: {help_text}",
                                value=float(value))


_scrape_time = ScrapeTime()
REGISTRY.register(_scrape_time)  # type: ignore[arg-type]  # a collector needs only collect()


def registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    # The workers' files, summed (a fresh registry each time, as prometheus-client's multiprocess mode asks).
    merged = CollectorRegistry()
    MultiProcessCollector(merged)
    merged.register(_scrape_time)  # type: ignore[arg-type]
    return merged


def authorized(request: HttpRequest) -> bool:
    token: str = settings.WHARF_METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@csrf_exempt
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not authorized(request):
        return JsonResponse({"error": "a valid metrics token is needed (Authorization: Bearer …)"}, status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    # The format the scraper asks for in Accept (OpenMetrics, text 1.0.0), else the classic text format.
    encode, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encode(registry()), content_type=content_type, headers={"Cache-Control": "no-store"})
