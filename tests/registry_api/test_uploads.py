"""Blob uploads: monolithic, POST+PUT, streamed and chunked PATCH, status, cancel, mount, clean failures."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.repositories.models import Repository, Visibility
from registry_api import hashing, tasks
from registry_api.models import Blob, BlobLink, Upload
from registry_api.storage import blob_key, upload_key
from tests.factories import bearer, make_repository, sha256

OCTET = "application/octet-stream"
DATA = b"The quick brown fox jumps over the lazy dog"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def push_auth(name: str = "alice/app", user: str = "alice") -> str:
    return bearer(user, (name, "pull,push"))


def cancel_auth(name: str = "alice/app") -> str:
    # DELETE needs the delete action, for an upload as for a blob (as in distribution).
    return bearer("alice", (name, "pull,push,delete"))


def start(client: Any, name: str = "alice/app", user: str = "alice", query: str = "", auth: str = "") -> Any:
    return client.post(f"/v2/{name}/blobs/uploads/{query}", HTTP_AUTHORIZATION=auth or push_auth(name, user))


def session(client: Any, name: str = "alice/app") -> str:
    """A fresh upload session's Location."""
    response = start(client, name)
    assert response.status_code == 202, response.content
    return str(response["Location"])


def range_header(content_range: str | None) -> dict[str, str]:
    return {"HTTP_CONTENT_RANGE": content_range} if content_range else {}


def patch(client: Any, location: str, chunk: bytes, content_range: str | None = None,
          name: str = "alice/app") -> Any:
    return client.patch(location, chunk, content_type=OCTET, HTTP_AUTHORIZATION=push_auth(name),
                        **range_header(content_range))


def put(client: Any, location: str, digest: str, chunk: bytes = b"", content_range: str | None = None) -> Any:
    separator = "&" if "?" in location else "?"
    return client.put(f"{location}{separator}digest={digest}", chunk, content_type=OCTET,
                      HTTP_AUTHORIZATION=push_auth(), **range_header(content_range))


def status(client: Any, location: str) -> Any:
    return client.get(location, HTTP_AUTHORIZATION=push_auth())


def pull(client: Any, name: str, digest: str) -> bytes:
    response = client.get(f"/v2/{name}/blobs/{digest}", HTTP_AUTHORIZATION=bearer("alice", (name, "pull")))
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def monolithic(client: Any, name: str, data: bytes, digest: str | None = None, user: str = "alice") -> Any:
    return client.post(f"/v2/{name}/blobs/uploads/?digest={digest or sha256(data)}", data, content_type=OCTET,
                       HTTP_AUTHORIZATION=push_auth(name, user))


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def upload_id(location: str) -> uuid.UUID:
    return uuid.UUID(location.rstrip("/").rsplit("/", 1)[-1])


def assert_nothing_left(storage: Any) -> None:
    assert not Blob.objects.exists()
    assert not BlobLink.objects.exists()
    assert not Upload.objects.exists()
    assert list(storage.walk()) == []


class DroppedConnection:
    """A request body that delivers `data` and then fails, as a socket does when the client goes away."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        if not self._data:
            raise OSError("connection reset by peer")
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk

    readline = read


def short_body(client: Any, method: str, url: str, stream: Any, announced: int) -> Any:
    """Announce `announced` bytes in Content-Length but deliver only what `stream` holds."""
    return getattr(client, method)(url, content_type=OCTET, HTTP_AUTHORIZATION=push_auth(),
                                   CONTENT_LENGTH=str(announced), **{"wsgi.input": stream})


# --- Pushing ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_monolithic_post_with_a_digest_creates_the_blob(client, alice, storage):
    digest = sha256(DATA)

    response = monolithic(client, "alice/app", DATA)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/app/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest
    assert pull(client, "alice/app", digest) == DATA
    assert not Upload.objects.exists()
    assert list(storage.walk()) == [blob_key(digest)]
    # The owner's first push created the repository, private by default.
    assert Repository.objects.get(full_name="alice/app").visibility == Visibility.PRIVATE


@pytest.mark.django_db
def test_post_opens_a_session_that_put_completes_with_the_body(client, alice):
    response = start(client)

    assert response.status_code == 202
    location = response["Location"]
    assert location == f"/v2/alice/app/blobs/uploads/{response['Docker-Upload-UUID']}"
    assert response["Range"] == "0-0"
    created = put(client, location, sha256(DATA), DATA)
    assert created.status_code == 201
    assert created["Location"] == f"/v2/alice/app/blobs/{sha256(DATA)}"
    assert created["Docker-Content-Digest"] == sha256(DATA)
    assert pull(client, "alice/app", sha256(DATA)) == DATA


@pytest.mark.django_db
def test_streamed_patches_without_content_range_append_in_order(client, alice):
    location = session(client)

    first = patch(client, location, DATA[:10])
    second = patch(client, location, DATA[10:])

    assert (first.status_code, first["Range"]) == (202, "0-9")
    assert (second.status_code, second["Range"]) == (202, f"0-{len(DATA) - 1}")
    assert second["Location"] == location
    assert put(client, location, sha256(DATA)).status_code == 201
    assert pull(client, "alice/app", sha256(DATA)) == DATA


@pytest.mark.django_db
def test_chunks_with_content_range_assemble_the_blob(client, alice):
    location = session(client)
    chunks = [(0, 9), (10, 29), (30, len(DATA) - 1)]

    for first, last in chunks:
        response = patch(client, location, DATA[first:last + 1], f"{first}-{last}")
        assert response.status_code == 202
        assert response["Range"] == f"0-{last}"
        assert response["Location"] == location

    assert put(client, location, sha256(DATA)).status_code == 201
    assert pull(client, "alice/app", sha256(DATA)) == DATA


@pytest.mark.django_db
def test_pushing_the_same_blob_to_two_repositories_stores_it_once(client, alice, storage):
    monolithic(client, "alice/app", DATA)
    monolithic(client, "alice/other", DATA)

    assert Blob.objects.count() == 1
    assert BlobLink.objects.count() == 2
    assert list(storage.walk()) == [blob_key(sha256(DATA))]


@pytest.mark.django_db
def test_an_empty_blob_can_be_pushed_monolithically_and_by_post_then_put(client, alice):
    for response in (monolithic(client, "alice/app", b""), put(client, session(client), EMPTY_SHA256)):
        assert response.status_code == 201
        assert response["Docker-Content-Digest"] == EMPTY_SHA256

    assert pull(client, "alice/app", EMPTY_SHA256) == b""


@pytest.mark.django_db
def test_a_sha512_upload_may_close_with_the_last_chunk_in_the_put(client, alice):
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    location = session(client)
    patch(client, location, DATA[:10], "0-9")

    response = put(client, location, digest, DATA[10:])

    assert response.status_code == 201
    assert pull(client, "alice/app", digest) == DATA


# --- Chunk order, status and cancel ------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("chunk", "content_range"), [(DATA[20:30], "20-29"), (DATA[10:20], "10-29")],
                         ids=["gap", "range-longer-than-body"])
def test_a_chunk_out_of_order_is_refused_with_416(client, alice, storage, chunk, content_range):
    location = session(client)
    patch(client, location, DATA[:10], "0-9")

    response = patch(client, location, chunk, content_range)

    assert response.status_code == 416
    assert error_code(response) == "RANGE_INVALID"
    assert response["Range"] == "0-9"
    assert response["Location"] == location
    assert Upload.objects.get().size == 10
    assert storage.size(upload_key(upload_id(location))) == 10
    # The client resumes from the last valid range, and the blob still comes out right.
    assert patch(client, location, DATA[10:], f"10-{len(DATA) - 1}").status_code == 202
    assert put(client, location, sha256(DATA)).status_code == 201


@pytest.mark.django_db
def test_a_closing_put_whose_chunk_is_out_of_order_is_refused_with_416(client, alice):
    # The spec allows the last chunk, with its Content-Range, on the closing PUT; order rules still apply.
    location = session(client)
    patch(client, location, DATA[:10], "0-9")

    response = put(client, location, sha256(DATA), DATA[5:], content_range=f"5-{len(DATA) - 1}")

    assert response.status_code == 416
    assert response["Range"] == "0-9"
    assert Upload.objects.get().size == 10
    assert put(client, location, sha256(DATA), DATA[10:], f"10-{len(DATA) - 1}").status_code == 201


@pytest.mark.django_db
def test_upload_status_reports_the_progress(client, alice):
    location = session(client)
    patch(client, location, DATA[:25])

    response = status(client, location)

    assert response.status_code == 204
    assert response["Range"] == "0-24"
    assert response["Location"] == location
    assert response["Docker-Upload-UUID"] == str(upload_id(location))


@pytest.mark.django_db
def test_cancelling_an_upload_forgets_it_and_its_bytes(client, alice, storage):
    location = session(client)
    patch(client, location, DATA)

    response = client.delete(location, HTTP_AUTHORIZATION=cancel_auth())

    assert response.status_code == 204
    gone = status(client, location)
    assert gone.status_code == 404
    assert error_code(gone) == "BLOB_UPLOAD_UNKNOWN"
    assert patch(client, location, DATA).status_code == 404
    assert_nothing_left(storage)


@pytest.mark.django_db
@pytest.mark.parametrize("upload", [str(uuid.uuid4()), "not-a-uuid"])
@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_an_unknown_upload_is_blob_upload_unknown(client, alice, upload, method):
    make_repository("alice/app")
    url = f"/v2/alice/app/blobs/uploads/{upload}"
    if method == "put":
        url += f"?digest={sha256(DATA)}"

    response = getattr(client, method)(url, HTTP_AUTHORIZATION=cancel_auth())

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.django_db
def test_an_upload_cannot_be_continued_through_another_repository(client, alice):
    location = session(client, "alice/app")
    make_repository("alice/other")
    elsewhere = location.replace("alice/app", "alice/other")

    response = patch(client, elsewhere, DATA, name="alice/other")

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert Upload.objects.get().size == 0


# --- Cross-repository mount ---------------------------------------------------------------------------------

def mount(client: Any, name: str, digest: str, source: str, user: str, auth: str = "") -> Any:
    auth = auth or bearer(user, (name, "pull,push"), (source, "pull"))
    return start(client, name, query=f"?mount={digest}&from={source}", auth=auth)


@pytest.mark.django_db
@pytest.mark.parametrize(("user", "visibility"), [("alice", Visibility.PRIVATE), ("bob", Visibility.PUBLIC)],
                         ids=["own-repository", "someone-elses-public-repository"])
def test_a_blob_is_mounted_from_a_repository_the_caller_can_read(client, alice, bob, user, visibility):
    make_repository("alice/base", visibility=visibility)
    monolithic(client, "alice/base", DATA)

    response = mount(client, f"{user}/app", sha256(DATA), "alice/base", user)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{user}/app/blobs/{sha256(DATA)}"
    assert response["Docker-Content-Digest"] == sha256(DATA)
    assert BlobLink.objects.filter(repository__full_name=f"{user}/app", blob__digest=sha256(DATA)).exists()
    assert not Upload.objects.exists()


def assert_normal_upload_started(response: Any, name: str) -> None:
    assert response.status_code == 202
    assert response["Location"].startswith(f"/v2/{name}/blobs/uploads/")
    assert Upload.objects.filter(repository__full_name=name).count() == 1
    assert not BlobLink.objects.filter(repository__full_name=name).exists()


@pytest.mark.django_db
def test_a_mount_from_someone_elses_private_repository_starts_a_normal_upload(client, alice, bob):
    monolithic(client, "alice/base", DATA)

    response = mount(client, "bob/app", sha256(DATA), "alice/base", "bob")

    assert_normal_upload_started(response, "bob/app")


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["alice/base", "alice/missing"])
def test_a_mount_of_a_blob_the_source_lacks_starts_a_normal_upload(client, alice, source):
    make_repository("alice/base")

    response = mount(client, "alice/app", sha256(DATA), source, "alice")

    assert_normal_upload_started(response, "alice/app")


@pytest.mark.django_db
def test_a_mount_needs_a_token_that_grants_pull_on_the_source(client, alice):
    # Docker token auth: mounting requires pull access to `from` in the token, as distribution checks.
    monolithic(client, "alice/base", DATA)

    response = mount(client, "alice/app", sha256(DATA), "alice/base", "alice", auth=push_auth("alice/app"))

    assert_normal_upload_started(response, "alice/app")


# --- Failures leave nothing behind --------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("monolithic_post", [False, True], ids=["session", "monolithic"])
def test_a_wrong_digest_is_refused_and_leaves_nothing_behind(client, alice, storage, monolithic_post):
    wrong = sha256(b"something else")
    if monolithic_post:
        response = monolithic(client, "alice/app", DATA, digest=wrong)
    else:
        location = session(client)
        patch(client, location, DATA[:10])
        response = put(client, location, wrong, DATA[10:])

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert_nothing_left(storage)


@pytest.mark.django_db
@pytest.mark.parametrize("digest", ["", "sha256:1234", "md5:" + "0" * 32])
def test_a_put_without_a_valid_digest_is_digest_invalid(client, alice, digest):
    location = session(client)

    response = put(client, location, digest, DATA)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert not Blob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("stream", [io.BytesIO, DroppedConnection], ids=["short-body", "dropped-connection"])
def test_a_truncated_chunk_is_refused_and_the_committed_size_stays(client, alice, storage, stream):
    location = session(client)
    patch(client, location, DATA[:10])

    response = short_body(client, "patch", location, stream(DATA[10:20]), announced=len(DATA) - 10)

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert Upload.objects.get().size == 10
    assert storage.size(upload_key(upload_id(location))) == 10
    assert status(client, location)["Range"] == "0-9"
    # Sending the chunk again completes a blob whose digest checks out.
    patch(client, location, DATA[10:])
    assert put(client, location, sha256(DATA)).status_code == 201
    assert pull(client, "alice/app", sha256(DATA)) == DATA


@pytest.mark.django_db
def test_a_truncated_monolithic_post_leaves_nothing_behind(client, alice, storage):
    url = f"/v2/alice/app/blobs/uploads/?digest={sha256(DATA)}"

    response = short_body(client, "post", url, io.BytesIO(DATA[:10]), announced=len(DATA))

    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert_nothing_left(storage)


# --- Another process, and stale sessions --------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("digest", "expected"), [(sha256(DATA), 201), (sha256(DATA[:10]), 400)],
                         ids=["right-digest", "wrong-digest"])
def test_a_session_continued_in_another_process_verifies_the_digest_from_storage(client, alice, digest,
                                                                                  expected):
    location = session(client)
    patch(client, location, DATA[:10])
    hashing.forget(upload_id(location))     # as if the next request reached another process
    patch(client, location, DATA[10:20])
    hashing._states.clear()

    response = put(client, location, digest, DATA[20:])

    assert response.status_code == expected
    if expected == 201:
        assert pull(client, "alice/app", digest) == DATA
    else:
        assert error_code(response) == "DIGEST_INVALID"
        assert not Blob.objects.exists()


@pytest.mark.django_db
def test_a_stale_hash_state_left_by_another_process_is_not_trusted(client, alice):
    location = session(client)
    patch(client, location, DATA[:10])
    stale = dict(hashing._states)           # this process's state after the first chunk
    hashing._states.clear()
    patch(client, location, DATA[10:])      # the second chunk is handled by another process
    hashing._states.update(stale)

    assert put(client, location, sha256(DATA)).status_code == 201
    assert pull(client, "alice/app", sha256(DATA)) == DATA


@pytest.mark.django_db
def test_stale_uploads_are_purged_with_their_bytes(client, alice, storage, settings):
    settings.WHARF_UPLOAD_EXPIRY_SECONDS = 600
    stale, fresh = session(client), session(client)
    patch(client, stale, DATA)
    patch(client, fresh, DATA)
    Upload.objects.filter(pk=upload_id(stale)).update(updated_at=timezone.now() - timedelta(seconds=700))

    purged = tasks.purge_stale_uploads()

    assert purged == 1
    assert list(Upload.objects.values_list("pk", flat=True)) == [upload_id(fresh)]
    assert list(storage.walk()) == [upload_key(upload_id(fresh))]
    assert status(client, stale).status_code == 404
    assert tasks.purge_stale_uploads() == 0     # a second run finds nothing


# --- Who may push -------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_token_without_push_is_challenged(client, alice):
    location = session(client)
    pull_only = bearer("alice", ("alice/app", "pull"))

    response = start(client, auth=pull_only)

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="http://testserver/v2/auth"')
    assert 'service="wharf"' in challenge
    assert 'scope="repository:alice/app:pull,push"' in challenge
    assert client.patch(location, DATA, content_type=OCTET, HTTP_AUTHORIZATION=pull_only).status_code == 401
    assert Upload.objects.get().size == 0


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["alice/app", "alice/new"], ids=["existing-public", "new"])
def test_bob_cannot_push_to_alices_namespace(client, alice, bob, name):
    make_repository("alice/app", visibility=Visibility.PUBLIC)

    # Even a token that claims push is checked against bob's live role on the repository.
    response = monolithic(client, name, DATA, user="bob")

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert not Blob.objects.exists()
    assert not Upload.objects.exists()
    assert not Repository.objects.filter(full_name="alice/new").exists()


# --- one writer per upload; verified blobs are never replaced -------------------------------------------------

@pytest.mark.django_db
def test_a_chunk_for_an_upload_another_request_is_writing_is_refused(client, alice, storage):
    location = session(client)
    assert patch(client, location, DATA).status_code == 202
    in_flight = storage.writer(upload_key(location.rsplit("/", 1)[1]), offset=len(DATA))   # a slow PATCH

    late = patch(client, location, b"more")
    closing = put(client, location, sha256(DATA + b"more"), b"more")
    in_flight.close()

    assert late.status_code == 400 and late.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert closing.status_code == 400 and closing.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert status(client, location)["Range"] == f"0-{len(DATA) - 1}"
    assert not Blob.objects.exists()


@pytest.mark.django_db
def test_pushing_a_blob_again_keeps_the_file_others_already_read(client, alice, bob, storage):
    digest = sha256(DATA)
    assert put(client, session(client), digest, DATA).status_code == 201
    before = (storage.root / blob_key(digest)).stat().st_ino

    response = client.post(f"/v2/bob/app/blobs/uploads/?digest={digest}", DATA, content_type=OCTET,
                           HTTP_AUTHORIZATION=push_auth("bob/app", "bob"))

    assert response.status_code == 201
    assert (storage.root / blob_key(digest)).stat().st_ino == before
    assert list(storage.walk("uploads/")) == []


@pytest.mark.django_db
def test_a_body_large_enough_to_hash_on_a_second_thread_verifies_like_any_other(client, alice):
    data = bytes(range(256)) * (9 * 4096)   # 9 MiB
    digest = sha256(data)

    wrong = put(client, session(client), sha256(data[:-1]), data)
    right = put(client, session(client), digest, data)

    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert right.status_code == 201
    assert pull(client, "alice/app", digest) == data
