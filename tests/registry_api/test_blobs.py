"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>: linked blobs only, byte ranges per RFC 9110."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from portal.repositories.models import Visibility
from registry_api.models import Blob
from registry_api.storage import blob_key
from tests.factories import bearer, make_repository, sha256

OCTET = "application/octet-stream"
DATA = b"0123456789"   # ten bytes: ranges are easy to read


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def push(client: Any, name: str, data: bytes, digest: str | None = None, user: str = "alice") -> str:
    digest = digest or sha256(data)
    response = client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", data, content_type=OCTET,
                           HTTP_AUTHORIZATION=bearer(user, (name, "pull,push")))
    assert response.status_code == 201, response.content
    return digest


def get(client: Any, name: str, digest: str, user: str = "alice", **headers: str) -> Any:
    return client.get(f"/v2/{name}/blobs/{digest}", HTTP_AUTHORIZATION=bearer(user, (name, "pull")), **headers)


def head(client: Any, name: str, digest: str, **headers: str) -> Any:
    auth = bearer("alice", (name, "pull"))
    return client.head(f"/v2/{name}/blobs/{digest}", HTTP_AUTHORIZATION=auth, **headers)


def delete(client: Any, name: str, digest: str, actions: str = "pull,push,delete") -> Any:
    return client.delete(f"/v2/{name}/blobs/{digest}", HTTP_AUTHORIZATION=bearer("alice", (name, actions)))


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


@pytest.mark.django_db
def test_a_pushed_blob_is_served_whole_with_its_digest(client, alice):
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest)

    assert response.status_code == 200
    assert body_of(response) == DATA
    assert response["Content-Length"] == "10"
    assert response["Docker-Content-Digest"] == digest
    assert response["Content-Type"] == OCTET


@pytest.mark.django_db
def test_head_reports_the_size_and_digest_without_a_body(client, alice):
    digest = push(client, "alice/app", DATA)

    response = head(client, "alice/app", digest)

    assert response.status_code == 200
    assert response["Content-Length"] == "10"
    assert response["Docker-Content-Digest"] == digest
    assert response.content == b""


@pytest.mark.django_db
def test_a_blob_never_pushed_is_blob_unknown(client, alice):
    make_repository("alice/app")

    response = get(client, "alice/app", sha256(b"never pushed"))

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"
    assert head(client, "alice/app", sha256(b"never pushed")).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("header", "first", "last"), [
    ("bytes=2-5", 2, 5),
    ("bytes=0-0", 0, 0),
    ("bytes=4-", 4, 9),          # open-ended
    ("bytes=-3", 7, 9),          # suffix: the last three bytes
    ("bytes=5-100", 5, 9),       # a last position past the end is clipped
    ("bytes=-100", 0, 9),        # a suffix longer than the blob is the whole blob
])
def test_a_byte_range_is_served_as_partial_content(client, alice, header, first, last):
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, HTTP_RANGE=header)

    assert response.status_code == 206
    assert body_of(response) == DATA[first:last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/10"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Docker-Content-Digest"] == digest


@pytest.mark.django_db
def test_head_with_a_range_reports_the_partial_length(client, alice):
    digest = push(client, "alice/app", DATA)

    response = head(client, "alice/app", digest, HTTP_RANGE="bytes=-4")

    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 6-9/10"
    assert response["Content-Length"] == "4"


@pytest.mark.django_db
@pytest.mark.parametrize("header", [
    "bytes=10-", "bytes=20-30", "bytes=-0",                    # unsatisfiable
    "bytes=5-2", "bytes=-", "bytes=abc", "bytes=1-x",          # malformed
])
def test_an_unsatisfiable_or_malformed_byte_range_is_refused_with_416(client, alice, header):
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, HTTP_RANGE=header)

    assert response.status_code == 416
    assert error_code(response) == "RANGE_INVALID"
    assert response["Content-Range"] == "bytes */10"


@pytest.mark.django_db
def test_a_range_in_a_unit_other_than_bytes_is_ignored(client, alice):
    # RFC 9110 §14.2: a server MUST ignore a Range header field with a range unit it does not understand.
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, HTTP_RANGE="items=0-3")

    assert response.status_code == 200
    assert body_of(response) == DATA


@pytest.mark.django_db
def test_a_satisfiable_multi_range_request_is_not_refused(client, alice):
    # RFC 9110 §14.2: a server MAY ignore Range and send 200, or send 206; 416 means nothing was satisfiable.
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, HTTP_RANGE="bytes=0-1,4-5")

    assert response.status_code in (200, 206)
    if response.status_code == 200:
        assert body_of(response) == DATA


@pytest.mark.django_db
def test_an_empty_blob_is_served_with_zero_length(client, alice):
    digest = push(client, "alice/app", b"")

    response = get(client, "alice/app", digest)

    assert response.status_code == 200
    assert body_of(response) == b""
    assert response["Content-Length"] == "0"
    assert get(client, "alice/app", digest, HTTP_RANGE="bytes=0-").status_code == 416


@pytest.mark.django_db
def test_deleting_a_blob_unlinks_it_from_the_repository(client, alice):
    digest = push(client, "alice/app", DATA)

    response = delete(client, "alice/app", digest)

    assert response.status_code == 202
    missing = get(client, "alice/app", digest)
    assert missing.status_code == 404
    assert error_code(missing) == "BLOB_UNKNOWN"


@pytest.mark.django_db
def test_deleting_a_blob_twice_is_blob_unknown(client, alice):
    digest = push(client, "alice/app", DATA)
    delete(client, "alice/app", digest)

    response = delete(client, "alice/app", digest)

    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


@pytest.mark.django_db
def test_deleting_a_blob_leaves_it_in_other_repositories(client, alice):
    digest = push(client, "alice/app", DATA)
    push(client, "alice/other", DATA)

    delete(client, "alice/app", digest)

    response = get(client, "alice/other", digest)
    assert response.status_code == 200
    assert body_of(response) == DATA


@pytest.mark.django_db
def test_deleting_a_blob_needs_the_delete_action(client, alice):
    digest = push(client, "alice/app", DATA)

    response = delete(client, "alice/app", digest, actions="pull,push")

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert get(client, "alice/app", digest).status_code == 200


@pytest.mark.django_db
def test_a_blob_pushed_only_to_another_repository_is_unknown_here(client, alice, storage):
    digest = push(client, "alice/app", DATA)
    make_repository("alice/other")

    response = get(client, "alice/other", digest)

    # The bytes are in storage and the Blob row exists, but alice/other holds no link to them.
    assert Blob.objects.filter(digest=digest).exists()
    assert storage.size(blob_key(digest)) == 10
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"
    assert head(client, "alice/other", digest).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("digest", [
    "sha256:1234",                       # too short
    "sha256:" + "A" * 64,                # upper-case hex
    "sha512:" + "a" * 64,                # a sha256-length encoding under sha512
    "md5:" + "a" * 32,                   # an algorithm the registry does not compute
    "latest",                            # not a digest at all
])
def test_a_malformed_digest_in_the_url_is_digest_invalid(client, alice, digest):
    make_repository("alice/app")

    response = get(client, "alice/app", digest)

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert delete(client, "alice/app", digest).status_code == 400


@pytest.mark.django_db
def test_sha512_blobs_are_pushed_and_served(client, alice, storage):
    digest = push(client, "alice/app", DATA, digest=sha512(DATA))

    response = get(client, "alice/app", digest)
    partial = get(client, "alice/app", digest, HTTP_RANGE="bytes=3-4")

    assert response.status_code == 200
    assert body_of(response) == DATA
    assert response["Docker-Content-Digest"] == digest
    assert body_of(partial) == b"34"
    assert list(storage.walk()) == [f"blobs/sha512/{digest[7:9]}/{digest[7:]}"]


@pytest.mark.django_db
def test_the_same_bytes_under_sha256_and_sha512_are_two_blobs(client, alice):
    by_sha256 = push(client, "alice/app", DATA)
    by_sha512 = push(client, "alice/app", DATA, digest=sha512(DATA))

    assert body_of(get(client, "alice/app", by_sha256)) == DATA
    assert body_of(get(client, "alice/app", by_sha512)) == DATA
    assert Blob.objects.count() == 2


@pytest.mark.django_db
def test_pulling_a_private_blob_needs_a_token_with_pull(client, alice):
    digest = push(client, "alice/app", DATA)

    response = client.get(f"/v2/alice/app/blobs/{digest}", HTTP_AUTHORIZATION=bearer("alice"))

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert 'scope="repository:alice/app:pull"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_bob_cannot_pull_from_alices_private_repository(client, alice, bob):
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, user="bob")

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"


@pytest.mark.django_db
def test_bob_can_pull_from_alices_public_repository(client, alice, bob):
    make_repository("alice/app", visibility=Visibility.PUBLIC)
    digest = push(client, "alice/app", DATA)

    response = get(client, "alice/app", digest, user="bob")

    assert response.status_code == 200
    assert body_of(response) == DATA
