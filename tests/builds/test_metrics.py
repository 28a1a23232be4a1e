"""Builds in /metrics: counts by status, the oldest queued build's wait, recent durations."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from builds.models import BuildStatus
from tests.builds.factories import make_build
from tests.factories import make_repository


def test_the_scrape_reads_builds_by_status_the_queue_and_durations(client, db) -> None:  # type: ignore[no-untyped-def]
    repository = make_repository("alice/app")
    now = timezone.now()
    make_build(repository, status=BuildStatus.QUEUED)
    make_build(repository, status=BuildStatus.FAILED)
    for seconds in (2, 4, 30):
        make_build(repository, status=BuildStatus.COMPLETE, started_at=now - timedelta(seconds=seconds + 5),
                   finished_at=now - timedelta(seconds=5))
    text = client.get("/metrics").content.decode()
    assert 'wharf_builds_recent{status="complete"} 3.0' in text
    assert 'wharf_builds_recent{status="queued"} 1.0' in text and 'wharf_builds_recent{status="failed"} 1.0' in text
    assert 'wharf_build_duration_seconds{quantile="0.5"} 4.0' in text
    assert 'wharf_build_duration_seconds{quantile="0.99"} 30.0' in text
    assert "wharf_build_queue_oldest_seconds " in text
