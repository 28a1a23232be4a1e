"""The registry on the s3 backend against a real S3 API server (moto's, tests/s3.py): presigned redirects,
multipart uploads whose parts and tails outlive the request, and a blob invisible until its digest checks."""

from __future__ import annotations

import hashlib
import random
import time
import urllib.request
from typing import Any

import pytest

from registry_api import hashing
from registry_api.models import Blob
from registry_api.storage import KeyBusy, blob_key, s3lease
from registry_api.storage import s3 as s3_module
from registry_api.storage.s3 import S3Storage
from registry_api.storage.s3lease import LeaseLost
from tests.factories import bearer, sha256
from tests.registry_api.test_uploads import monolithic, patch, put, session, upload_id

MiB = 1 << 20
DATA = random.Random(7).randbytes(13 * MiB + 99)


def pull_response(client: Any, digest: str, method: str = "get") -> Any:
    return getattr(client, method)(f"/v2/alice/app/blobs/{digest}",
                                   HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull")))


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def stored(s3_storage: S3Storage, digest: str) -> bytes:
    with s3_storage.open(blob_key(digest)) as f:
        return f.read()


@pytest.mark.django_db
def test_a_blob_get_answers_307_to_a_presigned_url_that_serves_the_bytes(client, repo, s3_storage):
    digest = sha256(DATA)
    assert monolithic(client, "alice/app", DATA).status_code == 201

    response = pull_response(client, digest)

    assert response.status_code == 307
    assert response["Docker-Content-Digest"] == digest
    location = response["Location"]
    assert location.startswith(s3_storage.client.meta.endpoint_url) and "Signature=" in location
    assert "Expires=300" in location or "X-Amz-Expires=300" in location
    assert fetch(location) == DATA


@pytest.mark.django_db
def test_a_blob_head_never_redirects(client, repo, s3_storage):
    digest = sha256(b"config")
    monolithic(client, "alice/app", b"config")

    response = pull_response(client, digest, "head")

    assert response.status_code == 200
    assert "Location" not in response
    assert response["Content-Length"] == "6"


@pytest.mark.django_db
def test_with_redirects_off_the_bytes_stream_through_wharf(client, repo, settings, s3_storage):
    from registry_api import storage

    settings.WHARF_STORAGE = {**settings.WHARF_STORAGE, "REDIRECT": False}
    storage.backend.cache_clear()
    digest = sha256(DATA)
    monolithic(client, "alice/app", DATA)

    response = pull_response(client, digest)
    ranged = client.get(f"/v2/alice/app/blobs/{digest}", HTTP_RANGE="bytes=9000000-9000009",
                        HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull")))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == DATA
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == DATA[9000000:9000010]


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [3 * MiB, 6 * MiB, 9 * MiB], ids=["3MiB", "6MiB", "9MiB"])
def test_a_chunked_upload_in_chunks_below_and_above_5_mib_finishes_with_the_right_digest(
        client, repo, s3_storage, chunk):
    location = session(client)
    for start in range(0, len(DATA), chunk):
        part = DATA[start:start + chunk]
        response = patch(client, location, part, f"{start}-{start + len(part) - 1}")
        assert response.status_code == 202, response.content
        location = response["Location"]

    response = put(client, location, sha256(DATA))

    assert response.status_code == 201, response.content
    assert stored(s3_storage, sha256(DATA)) == DATA
    assert Blob.objects.get(digest=sha256(DATA)).size == len(DATA)
    assert list(s3_storage.walk("uploads/")) == []
    assert not s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket,
                                                        Prefix=s3_storage.prefix).get("Uploads")


@pytest.mark.django_db
def test_an_upload_continued_by_a_process_without_its_hash_state_reads_it_back_from_the_bucket(
        client, repo, s3_storage):
    location = session(client)
    response = patch(client, location, DATA[:10 * MiB], f"0-{10 * MiB - 1}")
    hashing.forget(upload_id(location))   # as on another node
    sha512 = "sha512:" + hashlib.sha512(DATA).hexdigest()

    response = put(client, response["Location"], sha512, DATA[10 * MiB:], f"{10 * MiB}-{len(DATA) - 1}")

    assert response.status_code == 201, response.content
    assert stored(s3_storage, sha512) == DATA


@pytest.mark.django_db
def test_a_wrong_digest_leaves_no_blob_and_no_upload_in_the_bucket(client, repo, s3_storage):
    location = session(client)
    patch(client, location, DATA[:9 * MiB])

    response = put(client, location, sha256(b"something else"), DATA[9 * MiB:])

    assert response.status_code == 400
    assert list(s3_storage.walk()) == []
    assert not s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket,
                                                        Prefix=s3_storage.prefix).get("Uploads")


@pytest.mark.django_db
def test_the_blob_key_does_not_exist_until_the_move(s3_storage):
    writer = s3_storage.writer("uploads/one")
    writer.write(DATA)
    writer.flush()
    with writer.readback() as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(DATA).hexdigest()

    assert s3_storage.size(blob_key(sha256(DATA))) is None
    assert list(s3_storage.walk()) == ["uploads/one"]
    s3_storage.move("uploads/one", blob_key(sha256(DATA)))
    writer.close()
    assert list(s3_storage.walk()) == [blob_key(sha256(DATA))]


def die(writer: Any) -> None:
    """Stop the writer's lease heartbeat, as SIGKILL stops its process."""
    writer._lease._stop.set()
    writer._lease._beat.join()


def another_node(store: S3Storage) -> S3Storage:
    """The same bucket and prefix through a client of its own, as a second web node has."""
    return S3Storage(store.bucket, store.prefix, endpoint_url=store.client.meta.endpoint_url, region="us-east-1")


@pytest.mark.django_db
def test_a_writer_on_another_node_is_refused_while_the_lease_is_held(s3_storage):
    writer = s3_storage.writer("uploads/one")

    with pytest.raises(KeyBusy):
        another_node(s3_storage).writer("uploads/one")
    writer.close()
    another_node(s3_storage).writer("uploads/one").close()


@pytest.mark.django_db
def test_the_lease_of_a_holder_that_died_is_taken_over_and_the_holder_can_no_longer_commit(s3_storage, monkeypatch):
    monkeypatch.setattr(s3lease, "LEASE_SECONDS", 2)
    dead = s3_storage.writer("uploads/one")
    dead.write(DATA[:9 * MiB])   # sends a part, never commits a tail
    die(dead)
    time.sleep(3.2)   # Last-Modified has whole seconds

    survivor = another_node(s3_storage).writer("uploads/one")
    survivor.write(b"fresh")
    survivor.close()

    with pytest.raises(LeaseLost):
        dead.flush()
    with s3_storage.open("uploads/one") as f:
        assert f.read() == b"fresh"


@pytest.mark.django_db
def test_parts_sent_by_a_request_that_died_are_aborted_once_the_upload_goes_on(s3_storage, monkeypatch):
    monkeypatch.setattr(s3lease, "LEASE_SECONDS", 2)
    dead = s3_storage.writer("uploads/one")
    dead.write(DATA[:9 * MiB])   # a multipart upload with one part, named by no tail
    dead._wait()
    die(dead)
    time.sleep(3.2)

    survivor = another_node(s3_storage).writer("uploads/one")
    survivor.write(DATA)
    survivor.close()
    s3_storage.move("uploads/one", blob_key(sha256(DATA)))

    assert stored(s3_storage, sha256(DATA)) == DATA
    assert not s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket,
                                                        Prefix=s3_storage.prefix).get("Uploads")


@pytest.mark.django_db
def test_a_request_that_fails_after_sending_parts_is_cut_back_without_sealing_or_copying(s3_storage):
    writer = s3_storage.writer("uploads/one")
    writer.write(DATA[:10 * MiB])
    writer.close()
    calls: list[str] = []
    s3_storage.client.meta.events.register("before-call.s3", lambda model, **kwargs: calls.append(model.name))

    writer = s3_storage.writer("uploads/one", offset=10 * MiB)
    writer.write(DATA[:12 * MiB])   # sends a part, then the client goes away
    writer.truncate(10 * MiB)
    writer.close()

    assert "CompleteMultipartUpload" not in calls and "UploadPartCopy" not in calls
    with s3_storage.open("uploads/one") as f:
        assert f.read() == DATA[:10 * MiB]


@pytest.mark.django_db
def test_a_slow_holder_keeps_its_lease_for_as_long_as_it_lives(s3_storage, monkeypatch):
    monkeypatch.setattr(s3lease, "LEASE_SECONDS", 3)
    slow = s3_storage.writer("uploads/one")
    slow.write(b"first")
    time.sleep(4)   # a client that sends nothing for longer than the lease

    with pytest.raises(KeyBusy):
        another_node(s3_storage).writer("uploads/one")
    slow.write(b" second")
    slow.close()
    with s3_storage.open("uploads/one") as f:
        assert f.read() == b"first second"


def test_walk_follows_the_listing_from_page_to_page(s3_storage, monkeypatch):
    monkeypatch.setattr(s3_module, "WALK_PAGE", 2)
    keys = [f"uploads/{index}" for index in range(5)]
    for key in keys:
        s3_storage.writer(key).close()
    held = s3_storage.writer("uploads/held")   # its lock object is no key of the store
    held.flush()

    assert sorted(s3_storage.walk()) == sorted([*keys, "uploads/held"])
    held.close()
