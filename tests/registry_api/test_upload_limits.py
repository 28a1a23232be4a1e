"""Limits on uploads: open sessions per principal (429 with Retry-After) and the largest blob (413 before the
body is read; what was committed stays, nothing of the refused chunk is kept). A streamed body that passes
the limit is cut by a live server: tests/clients/test_disk_full.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.access import Principal
from registry_api.models import Upload
from registry_api.services import upload_owner
from tests.factories import grant, make_repository, sha256
from tests.registry_api.helpers import auth

pytestmark = pytest.mark.django_db
NAME = "alice/app"
UPLOADS = f"/v2/{NAME}/blobs/uploads/"


@pytest.fixture
def app(alice, bob):
    repository = make_repository(NAME)
    grant(repository, "write", user=bob)
    return repository


def start(client, user="alice"):
    return client.post(UPLOADS, HTTP_AUTHORIZATION=auth(NAME, user=user))


def error(response):
    return response.json()["errors"][0]["code"]


def test_one_session_over_the_open_limit_is_refused_with_429_until_one_ends(client, app, settings):
    settings.WHARF_MAX_OPEN_UPLOADS = 2
    first, second = start(client), start(client)
    assert (first.status_code, second.status_code) == (202, 202)

    refused = start(client)
    monolithic = client.post(f"{UPLOADS}?digest={sha256(b'x')}", data=b"x", content_type="application/octet-stream",
                             HTTP_AUTHORIZATION=auth(NAME))

    assert refused.status_code == 429 and error(refused) == "TOOMANYREQUESTS"
    assert int(refused["Retry-After"]) > 0
    assert monolithic.status_code == 429
    assert Upload.objects.count() == 2
    assert client.delete(first["Location"], HTTP_AUTHORIZATION=auth(NAME)).status_code == 204
    assert start(client).status_code == 202



def test_the_open_limit_is_checked_by_the_insert_that_opens_the_session(client, app, settings):
    # A blob push starts a session every time: the count must not cost a statement of its own.
    settings.WHARF_MAX_OPEN_UPLOADS = 1
    with CaptureQueriesContext(connection) as captured:
        assert start(client).status_code == 202
    on_uploads = [q["sql"] for q in captured.captured_queries if "registry_api_upload" in q["sql"]]

    assert len(on_uploads) == 1 and on_uploads[0].startswith("INSERT")
    assert start(client).status_code == 429 and Upload.objects.count() == 1

def test_sessions_abandoned_more_than_ten_minutes_ago_do_not_count(client, app, settings):
    # A CI job that crashed mid-push left its sessions for the hourly purge; they must not lock it out.
    settings.WHARF_MAX_OPEN_UPLOADS = 1
    assert start(client).status_code == 202
    Upload.objects.update(updated_at=timezone.now() - timedelta(minutes=11))

    assert start(client).status_code == 202
    assert start(client).status_code == 429


def test_the_open_limit_counts_each_principal_alone(client, app, settings):
    settings.WHARF_MAX_OPEN_UPLOADS = 1
    assert start(client).status_code == 202

    assert start(client, user="bob").status_code == 202
    assert start(client).status_code == 429


def test_a_robot_counts_apart_from_its_owner_and_an_api_token_as_its_owner():
    assert upload_owner(Principal("robot", "alice+ci", 1, robot_id=9)) == "robot:9"
    assert upload_owner(Principal("token", "alice", 1, token_id=4)) == upload_owner(Principal("user", "alice", 1))


def test_a_monolithic_push_declaring_more_than_the_largest_blob_is_refused_with_413(client, app, settings, storage):
    settings.WHARF_MAX_BLOB_BYTES = 1000
    data = b"x" * 1001

    response = client.post(f"{UPLOADS}?digest={sha256(data)}", data=data, content_type="application/octet-stream",
                           HTTP_AUTHORIZATION=auth(NAME))

    assert response.status_code == 413 and error(response) == "BLOB_UPLOAD_INVALID"
    assert list(storage.walk()) == [] and Upload.objects.count() == 0


def test_a_blob_of_exactly_the_largest_size_is_accepted(client, app, settings):
    settings.WHARF_MAX_BLOB_BYTES = 1000
    data = b"x" * 1000

    response = client.post(f"{UPLOADS}?digest={sha256(data)}", data=data, content_type="application/octet-stream",
                           HTTP_AUTHORIZATION=auth(NAME))

    assert response.status_code == 201


def test_a_chunk_that_would_take_the_blob_past_the_limit_is_refused_and_the_session_keeps_its_bytes(
        client, app, settings, storage):
    settings.WHARF_MAX_BLOB_BYTES = 1000
    location = start(client)["Location"]
    assert client.patch(location, data=b"a" * 600, content_type="application/octet-stream",
                        HTTP_AUTHORIZATION=auth(NAME)).status_code == 202

    by_length = client.patch(location, data=b"b" * 401, content_type="application/octet-stream",
                             HTTP_AUTHORIZATION=auth(NAME))
    by_range = client.patch(location, data=b"b" * 10, content_type="application/octet-stream",
                            HTTP_CONTENT_RANGE="600-2000", HTTP_AUTHORIZATION=auth(NAME))

    assert by_length.status_code == 413 and error(by_length) == "BLOB_UPLOAD_INVALID"
    assert by_range.status_code == 413
    (key,) = storage.walk()
    assert storage.size(key) == 600
    assert client.get(location, HTTP_AUTHORIZATION=auth(NAME))["Range"] == "0-599"
    rest = b"c" * 400
    done = client.put(f"{location}?digest={sha256(b'a' * 600 + rest)}", data=rest,
                      content_type="application/octet-stream", HTTP_AUTHORIZATION=auth(NAME))
    assert done.status_code == 201
