"""/healthz and /readyz in process, against real dependencies made to fail: a PostgreSQL or Redis that goes away
(a forwarder taken down: connections refused) and comes back, an SQLite file that cannot be opened, a storage
folder that is a file, an embedded broker folder that is gone."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connections

from portal import health
from tests.ops.forwarder import Forwarder
from tests.s3 import unique_prefix


def ready(client: Any) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthz_answers_ok_without_the_database(client):  # type: ignore[no-untyped-def]
    # No database mark: any query here would fail the test.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response and response["Cache-Control"] == "no-store"


def test_healthz_and_readyz_skip_the_portals_middleware(client, db):  # type: ignore[no-untyped-def]
    from portal.handlers import is_registry

    for path in ("/healthz", "/readyz", "/metrics"):
        assert is_registry({"PATH_INFO": path})
    # No session, no CSRF cookie, no Vary: Cookie from the portal's chain.
    response = client.get("/readyz")
    assert not response.cookies and "Vary" not in response


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_200_with_each_check(client):  # type: ignore[no-untyped-def]
    status, body = ready(client)

    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_database_when_it_is_down_and_recovers(client, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    db = connections["default"].settings_dict   # the checks open connections of their own from these settings
    if db["ENGINE"].endswith("sqlite3"):
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        monkeypatch.setitem(db, "NAME", str(blocker / "wharf.sqlite3"))   # cannot be opened
        status, body = ready(client)
        assert status == 503 and body["failed"] == ["database"], body
        monkeypatch.setitem(db, "NAME", db["NAME"].replace(str(blocker), str(tmp_path / "back")))
        (tmp_path / "back").mkdir()
        assert ready(client)[0] == 200
        return
    with Forwarder(int(db["PORT"] or 5432), db["HOST"] or "127.0.0.1") as postgres:
        monkeypatch.setitem(db, "HOST", "127.0.0.1")
        monkeypatch.setitem(db, "PORT", str(postgres.port))
        assert ready(client)[0] == 200
        postgres.down()

        status, body = ready(client)

        assert status == 503, body
        assert body["status"] == "unavailable" and body["failed"] == ["database"]
        assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
        assert body["checks"]["broker"]["ok"] and body["checks"]["storage"]["ok"]
        postgres.up()
        assert ready(client)[0] == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_names_redis_when_it_is_down_and_recovers(client, settings):  # type: ignore[no-untyped-def]
    redis_url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    with Forwarder(redis_url.port or 6379, redis_url.hostname or "127.0.0.1") as redis:
        settings.CELERY_BROKER_URL = urlunsplit(redis_url._replace(netloc=f"127.0.0.1:{redis.port}"))
        assert ready(client)[0] == 200
        redis.down()

        status, body = ready(client)

        assert status == 503 and body["failed"] == ["broker"], body
        assert body["checks"]["broker"]["error"] in ("ConnectionError", "TimeoutError")
        redis.up()
        assert ready(client)[0] == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_embedded_broker_when_its_folder_is_gone(client, settings, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "broker-out"
    folder.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    assert ready(client)[0] == 200
    folder.rmdir()

    status, body = ready(client)

    assert status == 503 and body["failed"] == ["broker"], body
    folder.mkdir()
    assert ready(client)[0] == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_storage_when_its_folder_is_unusable_and_recovers(client, storage):  # type: ignore[no-untyped-def]
    root = Path(storage.root)
    assert ready(client)[0] == 200
    shutil.rmtree(root)
    root.write_text("a file where the blobs' folder was")   # as root, permissions would not stop a write

    status, body = ready(client)

    assert status == 503 and body["failed"] == ["storage"], body
    root.unlink()
    root.mkdir()
    assert ready(client)[0] == 200
    assert not list(storage.walk("readyz/")), "the probe objects are deleted"


@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_storage_when_the_bucket_is_down_and_recovers(client, settings, s3_server):  # type: ignore[no-untyped-def]
    store = urlsplit(s3_server.endpoint)
    with Forwarder(store.port or 80, store.hostname or "127.0.0.1") as bucket:
        settings.WHARF_STORAGE = {**s3_server.storage_settings(unique_prefix("readyz")),
                                  "ENDPOINT_URL": f"http://127.0.0.1:{bucket.port}"}
        assert ready(client)[0] == 200
        bucket.down()

        status, body = ready(client)

        assert status == 503 and body["failed"] == ["storage"], body
        bucket.up()
        deadline = time.monotonic() + 30   # a probe still retrying against the closed port finishes first
        while (status := ready(client)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_a_flood_from_one_probe_a_second(client, settings, storage):  # type: ignore[no-untyped-def]
    settings.WHARF_READY_CACHE_SECONDS = 60
    health._last = None
    assert ready(client)[0] == 200
    root = Path(storage.root)
    shutil.rmtree(root)
    root.write_text("a file where the blobs' folder was")

    # Within the window nothing is probed again: no connection, no write; the last probe's answer stands.
    assert ready(client)[0] == 200
    settings.WHARF_READY_CACHE_SECONDS = 0
    assert ready(client)[0] == 503
    root.unlink()
    root.mkdir()


@pytest.mark.django_db(transaction=True)
def test_readyz_gives_up_on_a_check_after_the_timeout(client, settings, monkeypatch):  # type: ignore[no-untyped-def]
    import threading

    from portal import health

    release, calls = threading.Event(), []

    def hanging(timeout: float) -> str:
        calls.append(timeout)
        return str(release.wait(30))

    monkeypatch.setitem(health.CHECKS, "storage", hanging)
    settings.WHARF_READY_TIMEOUT = 0.2
    try:
        status, body = ready(client)
        again = ready(client)[1]
    finally:
        release.set()

    assert status == 503 and body["failed"] == ["storage"]
    assert body["checks"]["storage"]["error"] == "no answer within 0.2s"
    assert again["failed"] == ["storage"]
    assert len(calls) == 1, "the hanging check is waited on again, not started twice"
    assert ready(client)[0] == 200
