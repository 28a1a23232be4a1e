"""Large blobs through the real server: the body is received straight from the socket into a ring of
buffers and hashed on a second thread; every byte must still land in order and the digest must hold."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from tests.conftest import LiveServer
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

MiB = 1 << 20


def bearer(registry: LiveServer) -> dict[str, str]:
    response = requests.get(f"{registry.url}/v2/auth", auth=("alice", PASSWORD), timeout=10,
                            params={"service": "wharf", "scope": "repository:alice/big:pull,push"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def pulled_digest(registry: LiveServer, auth: dict[str, str], digest: str) -> str:
    response = requests.get(f"{registry.url}/v2/alice/big/blobs/{digest}", headers=auth, stream=True, timeout=60)
    assert response.status_code == 200
    state = hashlib.sha256()
    for chunk in response.iter_content(MiB):
        state.update(chunk)
    return f"sha256:{state.hexdigest()}"


def test_a_large_monolithic_push_is_stored_byte_for_byte(registry):
    auth, data = bearer(registry), os.urandom(21 * MiB + 12345)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"

    response = requests.post(f"{registry.url}/v2/alice/big/blobs/uploads/?digest={digest}", data=data,
                             headers={**auth, "Content-Type": "application/octet-stream"}, timeout=60)

    assert response.status_code == 201, response.text
    assert pulled_digest(registry, auth, digest) == digest


def test_large_chunks_continue_one_upload_and_a_wrong_digest_leaves_nothing(registry):
    auth, data = bearer(registry), os.urandom(30 * MiB)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    started = requests.post(f"{registry.url}/v2/alice/big/blobs/uploads/", headers=auth, timeout=10)
    location = started.headers["Location"]
    for start in range(0, len(data), 10 * MiB):
        part = data[start:start + 10 * MiB]
        response = requests.patch(f"{registry.url}{location}", data=part, timeout=60, headers={
            **auth, "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert response.status_code == 202, response.text
        location = response.headers["Location"]

    wrong = requests.put(f"{registry.url}{location}?digest=sha256:{'0' * 64}", headers=auth, timeout=60)
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert not list((registry.data_dir / "storage" / "uploads").iterdir())

    again = requests.post(f"{registry.url}/v2/alice/big/blobs/uploads/?digest={digest}", data=data,
                          headers={**auth, "Content-Type": "application/octet-stream"}, timeout=60)
    assert again.status_code == 201
    assert pulled_digest(registry, auth, digest) == digest
