"""A real Celery worker runs the stale-upload purge: on Redis in the PostgreSQL pass, on the embedded
filesystem broker (as `make run` has it) in the SQLite pass."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from registry_api.models import Upload
from registry_api.tasks import purge_stale_uploads
from tests.factories import make_repository
from tests.workers.celery import start_worker, stop_worker


@pytest.fixture
def celery_worker(storage, transactional_db):  # type: ignore[no-untyped-def]
    worker = start_worker(storage.root, "default", "celery-worker.log")
    yield worker
    stop_worker(worker)


def test_a_worker_purges_stale_uploads_and_their_bytes(celery_worker, storage):
    repository = make_repository("alice/app")
    stale = Upload.objects.create(repository=repository)
    fresh = Upload.objects.create(repository=repository)
    for upload in (stale, fresh):
        writer = storage.writer(upload.storage_key)
        writer.write(b"partial layer")
        writer.close()
    old = timezone.now() - timedelta(seconds=settings.WHARF_UPLOAD_EXPIRY_SECONDS + 60)
    Upload.objects.filter(pk=stale.pk).update(updated_at=old)

    purge_stale_uploads.delay()

    deadline = time.monotonic() + 60
    while Upload.objects.filter(pk=stale.pk).exists() and time.monotonic() < deadline:
        assert celery_worker.poll() is None, "the worker died; see test-artifacts/celery-worker.log"
        time.sleep(0.2)
    assert not Upload.objects.filter(pk=stale.pk).exists()
    assert storage.size(stale.storage_key) is None
    assert Upload.objects.filter(pk=fresh.pk).exists()
    assert storage.size(fresh.storage_key) == len(b"partial layer")


def test_the_checkpoint_job_runs_on_sqlite_and_does_nothing_elsewhere(transactional_db):
    # Outside a transaction, as the worker runs it: SQLite refuses a checkpoint inside one.
    from django.db import connection

    from registry_api.tasks import checkpoint_sqlite

    result = checkpoint_sqlite()

    assert result.endswith("pages") if connection.vendor == "sqlite" else result == "not sqlite"
