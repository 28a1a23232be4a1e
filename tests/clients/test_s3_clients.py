"""Real clients against a live Wharf whose blobs live in S3 (moto's server, tests/s3.py): skopeo pushes and
pulls (its pulls follow the 307 to presigned URLs), monolithic and chunked uploads over HTTP, and the bucket
holds the blobs afterwards."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import requests

from tests.clients.conftest import CREDS, Clients, build_image, layer_digests, oci_manifest, to_oci_layout
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD
from tests.s3 import S3Server

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

MiB = 1 << 20


@pytest.fixture
def registry(live_server_wharf_s3: LiveServer, registry_user: object) -> LiveServer:
    return live_server_wharf_s3


def blob_keys(s3_server: S3Server) -> set[str]:
    return {key.rsplit("/", 1)[-1] for key in s3_server.keys("live/blobs/")}


def bearer(registry: LiveServer, repository: str) -> dict[str, str]:
    response = requests.get(f"{registry.url}/v2/auth", auth=("alice", PASSWORD), timeout=10,
                            params={"service": "wharf", "scope": f"repository:{repository}:pull,push"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def push_monolithic(registry: LiveServer, auth: dict[str, str], data: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    response = requests.post(f"{registry.url}/v2/alice/s3big/blobs/uploads/?digest={digest}", data=data,
                             headers={**auth, "Content-Type": "application/octet-stream"}, timeout=120)
    assert response.status_code == 201, response.text
    return digest


def push_chunked(registry: LiveServer, auth: dict[str, str], data: bytes, chunk: int) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    started = requests.post(f"{registry.url}/v2/alice/s3big/blobs/uploads/", headers=auth, timeout=10)
    location = started.headers["Location"]
    for start in range(0, len(data), chunk):
        part = data[start:start + chunk]
        response = requests.patch(f"{registry.url}{location}", data=part, timeout=120, headers={
            **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
    response = requests.put(f"{registry.url}{location}?digest={digest}", headers=auth, timeout=120)
    assert response.status_code == 201, response.text
    return digest


def pull(registry: LiveServer, auth: dict[str, str], digest: str) -> tuple[int, bytes]:
    """The first answer's status and the bytes at the end of the redirects (requests drops the bearer
    token when the redirect leaves for another host:port, as a client must for a presigned URL)."""
    response = requests.get(f"{registry.url}/v2/alice/s3big/blobs/{digest}", headers=auth, timeout=120)
    assert response.status_code == 200, response.text
    first = response.history[0].status_code if response.history else response.status_code
    return first, response.content


def test_skopeo_pushes_and_pulls_an_image_whose_blobs_land_in_the_bucket(
    clients: Clients, registry: LiveServer, s3_server: S3Server, tmp_path: Path, record_timing: dict[str, float],
) -> None:
    require_tool("podman", "skopeo")
    build_image(clients, "localhost/s3-app:1", tmp_path / "context", layers=3)
    layout = tmp_path / "layout"
    sent = to_oci_layout(clients, "localhost/s3-app:1", layout, "1")

    started = time.monotonic()
    clients.skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false",
                   f"oci:{layout}:1", f"docker://{registry.host}/alice/s3app:1")
    record_timing["skopeo push via S3 (3 layers)"] = time.monotonic() - started
    started = time.monotonic()
    pulled = tmp_path / "pulled"
    clients.skopeo("copy", "--quiet", "--src-creds", CREDS, "--src-tls-verify=false",
                   f"docker://{registry.host}/alice/s3app:1", f"oci:{pulled}:1")
    record_timing["skopeo pull via S3 redirects (3 layers)"] = time.monotonic() - started

    received = oci_manifest(pulled, "1")
    assert layer_digests(received) == layer_digests(sent)
    for digest in layer_digests(received):
        data = (pulled / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    assert {digest.split(":", 1)[1] for digest in layer_digests(sent)} <= blob_keys(s3_server)
    assert s3_server.keys("live/uploads/") == []
    assert not (registry.data_dir / "storage").exists()


def test_monolithic_and_chunked_pushes_through_the_live_server_pull_back_through_redirects(
    registry: LiveServer, s3_server: S3Server,
) -> None:
    auth = bearer(registry, "alice/s3big")
    whole, pieces = os.urandom(11 * MiB + 5), os.urandom(19 * MiB + 3)

    monolithic = push_monolithic(registry, auth, whole)
    chunked = push_chunked(registry, auth, pieces, 4 * MiB + 1)   # chunks below S3's part minimum

    assert pull(registry, auth, monolithic) == (307, whole)
    assert pull(registry, auth, chunked) == (307, pieces)
    assert {monolithic.split(":", 1)[1], chunked.split(":", 1)[1]} <= blob_keys(s3_server)
    assert s3_server.multipart_uploads("live/") == []


def test_a_64_mib_blob_through_s3_and_through_the_disk(
    registry: LiveServer, live_server_wharf: LiveServer, record_timing: dict[str, float],
) -> None:
    """Timings for the report (test-artifacts/client-timings.txt); the assertions are about the bytes."""
    data = os.urandom(64 * MiB)
    for label, server in (("S3 (moto)", registry), ("disk", live_server_wharf)):
        auth = bearer(server, "alice/s3big")
        started = time.monotonic()
        digest = push_monolithic(server, auth, data)
        record_timing[f"64 MiB monolithic push, {label}"] = time.monotonic() - started
        started = time.monotonic()
        push_chunked(server, auth, data[:-1] + b"x", 16 * MiB)
        record_timing[f"64 MiB chunked push (16 MiB chunks), {label}"] = time.monotonic() - started
        started = time.monotonic()
        assert pull(server, auth, digest)[1] == data
        record_timing[f"64 MiB pull, {label}"] = time.monotonic() - started
