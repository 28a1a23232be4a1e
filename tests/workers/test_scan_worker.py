"""A real Celery worker on the `scans` queue scans what a client pushes: the push's receiver queues the
summary and the task after commit, the worker reads the layers from storage and writes the counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from scanning.models import ScanSummary
from tests.conftest import ARTIFACTS, ROOT, database_url, require_tool
from tests.factories import make_repository, make_user
from tests.scanning import images


@pytest.fixture
def scans_worker(storage, transactional_db):  # type: ignore[no-untyped-def]
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis://"):
        require_tool("redis-server")
    elif broker != "filesystem://":
        pytest.fail(f"the suite runs on Redis or the embedded filesystem broker; got {broker}")
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "portal.settings",
           "WHARF_STORAGE_PATH": str(storage.root), "CELERY_BROKER_URL": broker,
           "DATA_DIR": str(settings.DATA_DIR)}
    log = open(ARTIFACTS / "celery-scans-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "scans", "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield worker
    worker.terminate()
    worker.wait(timeout=30)
    log.close()


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
