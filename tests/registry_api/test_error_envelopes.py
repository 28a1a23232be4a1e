"""Failures no view answers itself still come in the surface's envelope: OCI errors on /v2/, the API's JSON on
/api/, HTML on the pages; never a traceback or a path. A busy database is a 503 with Retry-After, not a 500."""

from __future__ import annotations

import errno
import io
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections, connection

from portal.repositories.models import Repository
from tests.api.conftest import as_user
from tests.client import Client
from tests.factories import bearer, make_repository

SECRET = "boom in /srv/wharf/secret_module.py"


def explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


def quiet_client() -> Client:
    # Django's test client re-raises a view's exception by default; a server answers instead.
    return Client(raise_request_exception=False)


def assert_clean(body: bytes) -> None:
    assert b"Traceback" not in body
    assert b"/srv/" not in body and b"secret" not in body and b".py" not in body


def oci_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["errors"] and body["errors"][0]["code"] == code, body
    assert_clean(response.content)
    return dict(body["errors"][0])


def api_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"] and body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert_clean(response.content)
    return dict(body["error"])


# --- a bug in a view ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_bug_in_a_registry_view_is_an_oci_500_and_the_traceback_is_logged(alice, monkeypatch, caplog):
    make_repository("alice/app")
    monkeypatch.setattr("registry_api.services.get_manifest", explode)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = quiet_client().get("/v2/alice/app/manifests/v1",
                                      HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull")))

    assert oci_error(response, 500, "UNKNOWN")["message"]
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)


@contextmanager
def no_connection_recycling() -> Iterator[None]:
    """As Django's test client does: a request must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def served(path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    """One request through the WSGI application a server runs (/v2/ there has no middleware at all)."""
    from portal.wsgi import application

    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer.update(status=status, headers=dict(headers))

    with no_connection_recycling():
        body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.mark.parametrize(("raised", "status", "code"), [
    (RuntimeError(SECRET), "500", "UNKNOWN"),
    (OperationalError("database is locked"), "503", "UNAVAILABLE"),
])
def test_the_registry_handler_without_middleware_answers_in_the_oci_envelope(monkeypatch, raised, status, code):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr("registry_api.views.base.bearer_claims", fail)

    status_line, headers, body = served("/v2/")

    assert status_line.startswith(status)
    assert json.loads(body)["errors"][0]["code"] == code
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert ("Retry-After" in headers) == (status == "503")
    assert_clean(body)


@pytest.mark.django_db
def test_a_bug_in_an_api_view_is_a_500_in_the_api_envelope(alice, monkeypatch):
    monkeypatch.setattr("portal.api.user.CurrentUser.get", explode)
    client = as_user(alice)
    client.raise_request_exception = False

    api_error(client.get("/api/v1/user/"), 500, "server_error")


# --- what Django refuses or cannot route --------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v2/", "/api/v1/user/"])
def test_a_disallowed_host_is_a_400_in_the_surface_envelope(settings, path):
    settings.ALLOWED_HOSTS = ["wharf.example"]

    response = quiet_client().get(path, HTTP_HOST="elsewhere.example")

    if path.startswith("/v2/"):
        oci_error(response, 400, "UNKNOWN")
    else:
        api_error(response, 400, "invalid")


@pytest.mark.django_db
def test_a_registry_path_no_route_matches_is_an_oci_404(client):
    # The catch-all route's `.` stops at a newline, so this reached Django's HTML 404 page.
    oci_error(client.get("/v2/x%0Ay"), 404, "NAME_UNKNOWN")


@pytest.mark.django_db
def test_an_api_path_outside_v1_is_a_json_404(client):
    api_error(client.get("/api/v2/repositories/"), 404, "not_found")


# --- a busy database ----------------------------------------------------------------------------------------------

@contextmanager
def database_busy(repository: Repository) -> Iterator[None]:
    """Another connection holds what a write needs: SQLite's write lock (the whole database), or on PostgreSQL
    the repository's row. This connection gives up after 0.2 s instead of its usual wait."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        other = sqlite3.connect(settings["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        usual_ms = int(settings["OPTIONS"]["timeout"] * 1000)
        give_up, restore = "PRAGMA busy_timeout = 200", f"PRAGMA busy_timeout = {usual_ms}"
    else:
        import psycopg

        other = psycopg.connect(dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"],
                                host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432)
        other.execute(f"SELECT id FROM {Repository._meta.db_table} WHERE id = %s FOR UPDATE", [repository.pk])
        give_up, restore = "SET lock_timeout = '200ms'", "RESET lock_timeout"
    with connection.cursor() as cursor:
        cursor.execute(give_up)
    try:
        yield
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute(restore)


def busy(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert_clean(response.content)


@pytest.mark.django_db(transaction=True)
def test_a_push_while_the_database_is_busy_is_a_503_with_retry_after(alice):
    repository = make_repository("alice/app")

    with database_busy(repository):
        response = quiet_client().post("/v2/alice/app/blobs/uploads/",
                                       HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull,push")))

    busy(response)
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


@pytest.mark.django_db(transaction=True)
def test_an_api_change_while_the_database_is_busy_is_a_503_with_retry_after(alice):
    repository = make_repository("alice/app")
    client = as_user(alice)
    client.raise_request_exception = False

    with database_busy(repository):
        response = client.patch("/api/v1/repositories/alice/app/", {"description": "new"}, format="json")

    busy(response)
    assert response.json()["error"]["code"] == "unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_form_posted_while_the_database_is_busy_is_a_503_page_with_retry_after(alice):
    repository = make_repository("alice/app")
    client = quiet_client()
    client.force_login(alice)

    with database_busy(repository):
        response = client.post("/repository/alice/app/star/", {"action": "star"})

    busy(response)
    assert b"busy" in response.content


@pytest.mark.django_db
def test_a_thread_queued_behind_this_process_s_sqlite_writer_gives_up_with_a_503(client, alice, monkeypatch):
    # On PostgreSQL writers lock rows, not this process's queue: the same push goes through beside a held queue.
    from portal import db
    from tests.registry_api.helpers import OCI_MANIFEST, oci_image, put_manifest

    body = oci_image(client, "alice/app")
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    holding, done = threading.Event(), threading.Event()

    def hold_the_queue() -> None:   # another request thread, mid-write
        with db._sqlite_writer:
            holding.set()
            done.wait(10)

    holder = threading.Thread(target=hold_the_queue)
    holder.start()
    holding.wait(10)
    try:
        response = put_manifest(quiet_client(), "alice/app", "v1", body, OCI_MANIFEST)
    finally:
        done.set()
        holder.join()

    if connection.vendor == "sqlite":
        busy(response)
    else:
        assert response.status_code == 201


@pytest.mark.parametrize(("path", "body_has"), [("/v2/alice/app/tags/list", b'"UNAVAILABLE"'),
                                                ("/api/v1/user/", b'"insufficient_storage"'),
                                                ("/settings/", b"storage is full")])
def test_a_full_disk_met_outside_any_view_is_a_507_in_the_surface_envelope(rf, path, body_has):
    # e.g. the session middleware saving a session on a full disk: Django's handler500 is all that is left.
    from portal import failures

    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        response = failures.server_error(rf.get(path))

    assert response.status_code == 507
    assert body_has in response.content
    assert_clean(response.content)
