"""Builds in /metrics, read from the database at each scrape (builds run on worker hosts whose own counters no
web node sees): builds by status over the last day, the queue's oldest wait, and duration percentiles of the
builds that completed in the last hour."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from builds.models import Build, BuildStatus

RECENT = timedelta(hours=24)


def collect() -> Iterable[Metric]:
    now = timezone.now()
    counts = dict(Build.objects.filter(created_at__gte=now - RECENT).values_list("status")
                  .annotate(n=Count("id")).values_list("status", "n"))
    family = GaugeMetricFamily("wharf_builds_recent", "Builds created in the last 24 hours, by status.",
                               labels=["status"])
    for status in BuildStatus.values:
        family.add_metric([status], counts.get(status, 0))
    yield family
    oldest = Build.objects.filter(status=BuildStatus.QUEUED).aggregate(oldest=Min("created_at"))["oldest"]
    yield GaugeMetricFamily("wharf_build_queue_oldest_seconds", "How long the oldest queued build has waited.",
                            value=(now - oldest).total_seconds() if oldest else 0.0)
    rows = Build.objects.filter(status=BuildStatus.COMPLETE, finished_at__gte=now - timedelta(hours=1),
                                started_at__isnull=False).values_list("started_at", "finished_at")[:10_000]
    durations = sorted((finished - started).total_seconds() for started, finished in rows
                       if started is not None and finished is not None)
    family = GaugeMetricFamily("wharf_build_duration_seconds",
                               "Durations of the builds that completed in the last hour.", labels=["quantile"])
    for quantile in (0.5, 0.9, 0.99):
        value = durations[min(len(durations) - 1, int(quantile * len(durations)))] if durations else 0.0
        family.add_metric([str(quantile)], value)
    yield family
