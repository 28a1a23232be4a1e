"""A live server on a real small filesystem (tmpfs): a full disk answers 507 in the OCI envelope, cuts back what
it half-wrote and works again as soon as there is room; a blob past WHARF_MAX_BLOB_BYTES is refused before its
body is read, and a streamed one is cut where it passes the limit."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.clients.test_crash_safety import PASSWORD, Server, auth, digest_of
from tests.conftest import fill, mount_small_disk, unmount

pytestmark = pytest.mark.clients
LIMIT = 1 << 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A server whose blob storage is a 4 MiB tmpfs (its database stays on the real disk)."""
    disk = tmp_path / "disk"
    mount_small_disk(disk, "4m")
    server = Server(tmp_path / "data")
    server.env.update(WHARF_STORAGE_PATH=str(disk / "storage"), WHARF_MAX_BLOB_BYTES=str(LIMIT))
    try:
        server.manage("migrate", "--noinput")
        server.manage("createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
                      DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        server.start()
        yield server, disk
    finally:
        if server.process and server.process.poll() is None:
            server.kill()
        unmount(disk)


def stored(disk: Path) -> dict[str, int]:
    root = disk / "storage"
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


def test_a_full_disk_answers_507_keeps_nothing_half_written_and_works_again_once_freed(server):
    server, disk = server
    headers = auth(server)
    uploads = f"{server.url}/v2/alice/app/blobs/uploads/"
    first, rest = os.urandom(300 << 10), os.urandom(700 << 10)
    location = server.url + requests.post(uploads, headers=headers, timeout=30).headers["Location"]
    assert requests.patch(location, data=first, headers=headers, timeout=30).status_code == 202
    filler = fill(disk, leave=200 << 10)   # room for part of the next chunk, not all of it

    refused = requests.patch(location, data=rest, headers=headers, timeout=30)
    monolithic = requests.post(f"{uploads}?digest={digest_of(rest)}", data=rest, headers=headers, timeout=30)

    for response in (refused, monolithic):
        assert response.status_code == 507, response.text
        assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    upload_key = f"uploads/{location.rsplit('/', 1)[1]}"
    assert stored(disk) == {upload_key: len(first)}   # the chunk cut back; the monolithic upload gone
    assert requests.get(location, headers=headers, timeout=30).headers["Range"] == f"0-{len(first) - 1}"

    filler.unlink()
    finished = requests.put(f"{location}?digest={digest_of(first + rest)}", data=rest, headers=headers, timeout=30)
    again = requests.post(f"{uploads}?digest={digest_of(rest)}", data=rest, headers=headers, timeout=30)

    assert finished.status_code == 201 and again.status_code == 201
    pulled = requests.get(f"{server.url}/v2/alice/app/blobs/{digest_of(first + rest)}", headers=headers, timeout=30)
    assert pulled.content == first + rest


def test_a_declared_length_past_the_largest_blob_is_refused_before_the_body_is_sent(server):
    server, disk = server
    headers = auth(server)
    location = requests.post(f"{server.url}/v2/alice/app/blobs/uploads/", headers=headers, timeout=30).headers[
        "Location"]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        head = [f"PATCH {location} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Content-Length: {20 << 30}",
                "Content-Type: application/octet-stream", f"Authorization: {headers['Authorization']}"]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = read_all(connection)   # the server closes the connection rather than wait for 20 GiB

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"BLOB_UPLOAD_INVALID"' in answer and time.monotonic() - started < 5
    assert set(stored(disk).values()) <= {0}


def test_a_streamed_body_is_cut_where_it_passes_the_largest_blob_and_nothing_of_it_is_kept(server):
    server, disk = server
    headers = auth(server)
    location = requests.post(f"{server.url}/v2/alice/app/blobs/uploads/", headers=headers, timeout=30).headers[
        "Location"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        head = [f"PATCH {location} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Transfer-Encoding: chunked",
                "Content-Type: application/octet-stream", f"Authorization: {headers['Authorization']}"]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = os.urandom(64 << 10)
        # Twice the limit (the server reads 1 MiB at a time), and no final chunk: the server must stop reading.
        for _ in range(2 * LIMIT // len(piece)):
            connection.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        answer = read_all(connection)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert set(stored(disk).values()) <= {0}
    progress = requests.get(f"{server.url}{location}", headers=headers, timeout=30)
    assert progress.status_code == 204 and progress.headers["Range"] == "0-0"


def read_all(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def test_manifest_and_api_writes_on_a_full_database_disk_answer_507_and_work_again_once_freed(tmp_path):
    """The embedded default keeps SQLite in DATA_DIR: here DATA_DIR itself is the small filesystem."""
    disk = tmp_path / "data"
    mount_small_disk(disk, "32m")
    server = Server(disk)
    try:
        server.manage("migrate", "--noinput")
        server.manage("createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
                      DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        server.start()
        headers = auth(server)
        config = b"{}"
        assert requests.post(f"{server.url}/v2/alice/app/blobs/uploads/?digest={digest_of(config)}", data=config,
                             headers=headers, timeout=30).status_code == 201
        manifest = (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": '
                    b'{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "%s", "size": 2}, '
                    b'"layers": []}' % digest_of(config).encode())
        put = {**headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        filler = fill(disk)

        refused = requests.put(f"{server.url}/v2/alice/app/manifests/v1", data=manifest, headers=put, timeout=30)
        api = requests.post(f"{server.url}/api/v1/repositories/", json={"namespace": "alice", "name": "other"},
                            auth=("alice", PASSWORD), timeout=30)

        assert refused.status_code == 507, refused.text
        assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert api.status_code == 507, api.text
        assert api.json()["error"]["code"] == "insufficient_storage"
        filler.unlink()
        stored = requests.put(f"{server.url}/v2/alice/app/manifests/v1", data=manifest, headers=put, timeout=30)
        assert stored.status_code == 201, stored.text
        assert requests.get(f"{server.url}/v2/alice/app/manifests/v1", headers=headers, timeout=30).content == manifest
    finally:
        if server.process and server.process.poll() is None:
            server.kill()
        unmount(disk)
