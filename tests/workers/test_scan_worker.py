"""A real Celery worker on the `scans` queue scans what a client pushes: the push's receiver queues the
summary and the task after commit, the worker reads the layers from storage and writes the counts."""

from __future__ import annotations

import time

import pytest

from scanning.models import ScanSummary
from tests.factories import make_repository, make_user
from tests.scanning import images
from tests.workers.celery import start_worker, stop_worker


@pytest.fixture
def scans_worker(storage, transactional_db):  # type: ignore[no-untyped-def]
    worker = start_worker(storage.root, "scans", "celery-scans-worker.log")
    yield worker
    stop_worker(worker)


def test_a_pushed_image_is_scanned_by_a_worker_on_the_scans_queue(scans_worker, client):
    make_user("alice")
    repository = make_repository("alice/app")
    images.import_fixtures()

    manifest = images.push_image(client, repository,
                                 [images.debian_base(), images.app_layer(), images.cleanup_layer()], tag="v1")

    deadline = time.monotonic() + 90
    summary = ScanSummary.objects.get(manifest=manifest)     # queued by the push's receiver
    while summary.status in ("queued", "scanning") and time.monotonic() < deadline:
        assert scans_worker.poll() is None, "the worker died; see test-artifacts/celery-scans-worker.log"
        time.sleep(0.3)
        summary.refresh_from_db()
    assert (summary.status, summary.high, summary.medium, summary.unknown, summary.fixable) == ("done", 1, 1, 1, 3)
