"""The process's Prometheus metrics: what the registry counts as it serves, and the hooks others report to.

Kernel layer: it imports no app, so the registry (bytes pushed, in registry_api/bodies.py) and the shell (requests
per route, in portal/handlers.py) can both count here. The /metrics view (portal/scrape.py) adds what is read at
scrape time (upload sessions open, queue lengths) and serves the lot.

Under gunicorn every worker is a process of its own: PROMETHEUS_MULTIPROC_DIR (set by portal/gunicorn.conf.py to
a fresh folder per server start) makes prometheus-client keep these values in files there, which a scrape on any
worker sums. Without it (runserver, the tests' in-process client) they live in this process's default registry.

Labels stay bounded: a route is its URL pattern (`/v2/<name>/manifests/<reference>`), never the path a client sent,
and an unknown method counts as "other".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

# Seconds to the response's headers: a blob's bytes stream after that and are not part of it.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

REQUESTS = Counter("wharf_registry_requests", "Registry (/v2/) requests answered, per route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("wharf_registry_request_duration_seconds",
                    "Registry (/v2/) time to the response's headers, per route and method.",
                    ["route", "method"], buckets=BUCKETS)
BYTES_PUSHED = Counter("wharf_registry_pushed_bytes", "Request body bytes the registry received (blobs, manifests).")
BYTES_PULLED = Counter("wharf_registry_pulled_bytes",
                       "Bytes of blobs and manifests the registry answered GETs with (not redirected ones).")
GC_RUNS = Counter("wharf_gc_runs", "Garbage collection runs recorded in this process.", ["dry_run"])
GC_BLOBS_REMOVED = Counter("wharf_gc_removed_blobs", "Blobs garbage collection removed.")
GC_MANIFESTS_REMOVED = Counter("wharf_gc_removed_manifests", "Manifests garbage collection removed.")
GC_BYTES_FREED = Counter("wharf_gc_freed_bytes", "Bytes garbage collection freed.")
GC_DURATION = Histogram("wharf_gc_duration_seconds", "How long garbage collection runs took.",
                        buckets=(0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0))

# Metric families computed at each scrape by other parts of Wharf (e.g. from a table); see on_scrape.
_scrape_hooks: list[Callable[[], Iterable[Metric]]] = []
# URL pattern (as Django's ResolverMatch.route gives it) → route label; bounded by the URLconf.
_routes: dict[str, str] = {}
_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()\\]|\\.)*\)")


def route_label(resolver_match: Any) -> str:
    """The route template of a resolved request, e.g. `/v2/<name>/blobs/<digest>`."""
    route = getattr(resolver_match, "route", None)
    if not route:
        return UNMATCHED
    label = _routes.get(route)
    if label is None:
        label = "/" + _GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "").replace("/?", "/")
        _routes[route] = label
    return label


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def pushed(size: int) -> None:
    if size:
        BYTES_PUSHED.inc(size)


def pulled(size: int) -> None:
    if size:
        BYTES_PULLED.inc(size)


def observe_gc(*, dry_run: bool, blobs_removed: int, manifests_removed: int, bytes_freed: int,
               seconds: float) -> None:
    """Record one garbage collection run (called by the GC when it finishes).

    Counted in the calling process: a Celery worker's counts reach /metrics only when it shares the web
    server's PROMETHEUS_MULTIPROC_DIR (one host). For runs made elsewhere, register a scrape hook that reads
    the recorded runs from the database instead (on_scrape)."""
    GC_RUNS.labels("true" if dry_run else "false").inc()
    GC_DURATION.observe(seconds)
    if not dry_run:
        GC_BLOBS_REMOVED.inc(blobs_removed)
        GC_MANIFESTS_REMOVED.inc(manifests_removed)
        GC_BYTES_FREED.inc(bytes_freed)


def on_scrape(hook: Callable[[], Iterable[Metric]]) -> Callable[[], Iterable[Metric]]:
    """Register `hook` (usable as a decorator): at every scrape it returns metric families, e.g. a
    GaugeMetricFamily read from the database. A hook that raises is logged and left out of that scrape."""
    if hook not in _scrape_hooks:
        _scrape_hooks.append(hook)
    return hook


def scraped() -> Iterable[Metric]:
    for hook in list(_scrape_hooks):
        try:
            yield from list(hook())
        except Exception:   # noqa: BLE001 (one broken reading must not cost the whole scrape)
            log.exception("metrics: scrape hook %s failed", getattr(hook, "__name__", hook))
