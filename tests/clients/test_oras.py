"""oras-py against a live Wharf: artifacts with a subject, found again through the referrers API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import oras.client
import oras.oci
import pytest
import requests

from tests.conftest import LiveServer
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SBOM = "application/vnd.example.sbom.v1+json"
SIGNATURE = "application/vnd.example.signature.v1+json"


@pytest.fixture
def oras_alice(registry: LiveServer, tmp_path: Path) -> Any:
    """An oras client logged in as alice; its docker config lives in tmp_path, not in ~/.docker."""
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    client.login(username="alice", password=PASSWORD, hostname=registry.host,
                 config_path=str(tmp_path / "docker-config.json"))
    # oras-py keeps the first token it gets (pull-only, from the HEAD that opens every blob upload) and
    # never asks again on a 401, so a push would fail with "insufficient scope" (oras-project/oras-py#187).
    # A token that already holds pull,push sidesteps that client bug.
    client.auth.set_token_auth(token(registry, "repository:alice/app:pull,push"))
    return client


def token(registry: LiveServer, scope: str) -> str:
    response = requests.get(f"{registry.url}/v2/auth", params={"service": "wharf", "scope": scope},
                            auth=("alice", PASSWORD), timeout=10)
    assert response.status_code == 200, response.text
    value: str = response.json()["token"]
    return value


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def push_image(oras_alice: Any, registry: LiveServer, tmp_path: Path) -> Any:
    """Push a small OCI image (a real image config and one tar layer); returns it as an oras Subject."""
    config = write(tmp_path / "config.json", json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    layer = write(tmp_path / "layer.tar", b"\0" * 1024)
    response = oras_alice.push(f"{registry.host}/alice/app:1",
                               files=[f"{layer}:application/vnd.oci.image.layer.v1.tar"],
                               manifest_config=f"{config}:application/vnd.oci.image.config.v1+json",
                               disable_path_validation=True, quiet=True)
    assert response.status_code == 201, response.text
    head = requests.head(f"{registry.url}/v2/alice/app/manifests/1", timeout=10, headers={
        "Authorization": f"Bearer {token(registry, 'repository:alice/app:pull')}", "Accept": OCI_MANIFEST})
    assert head.status_code == 200, head.headers
    assert head.headers["Docker-Content-Digest"] == response.headers["Docker-Content-Digest"]
    return oras.oci.Subject(mediaType=OCI_MANIFEST, digest=head.headers["Docker-Content-Digest"],
                            size=int(head.headers["Content-Length"]))


def push_artifact(oras_alice: Any, registry: LiveServer, tmp_path: Path, tag: str, artifact_type: str,
                  subject: Any) -> str:
    """Push an artifact whose config media type (hence artifactType) is `artifact_type`; returns its digest."""
    config = write(tmp_path / f"{tag}-config.json", b"{}")
    payload = write(tmp_path / f"{tag}.json", json.dumps({"artifact": tag}).encode())
    response = oras_alice.push(f"{registry.host}/alice/app:{tag}", files=[f"{payload}:application/json"],
                         manifest_config=f"{config}:{artifact_type}", subject=subject,
                         manifest_annotations={"org.example.kind": tag},
                         disable_path_validation=True, quiet=True)
    assert response.status_code == 201, response.text
    assert response.headers.get("OCI-Subject") == subject.digest
    digest: str = response.headers["Docker-Content-Digest"]
    return digest


def referrers(registry: LiveServer, digest: str, **params: str) -> requests.Response:
    return requests.get(f"{registry.url}/v2/alice/app/referrers/{digest}", params=params, timeout=10,
                        headers={"Authorization": f"Bearer {token(registry, 'repository:alice/app:pull')}"})


def test_oras_artifacts_pushed_with_a_subject_are_listed_as_its_referrers(
    oras_alice: Any, registry: LiveServer, tmp_path: Path,
) -> None:
    subject = push_image(oras_alice, registry, tmp_path)
    sbom = push_artifact(oras_alice, registry, tmp_path, "sbom", SBOM, subject)
    signature = push_artifact(oras_alice, registry, tmp_path, "signature", SIGNATURE, subject)

    response = referrers(registry, subject.digest)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    index = response.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    found = {d["digest"]: d for d in index["manifests"]}
    assert set(found) == {sbom, signature}
    assert found[sbom]["artifactType"] == SBOM
    assert found[sbom]["mediaType"] == OCI_MANIFEST
    assert found[sbom]["annotations"]["org.example.kind"] == "sbom"
    assert found[signature]["artifactType"] == SIGNATURE


def test_oras_referrers_can_be_filtered_by_artifact_type(
    oras_alice: Any, registry: LiveServer, tmp_path: Path,
) -> None:
    subject = push_image(oras_alice, registry, tmp_path)
    sbom = push_artifact(oras_alice, registry, tmp_path, "sbom", SBOM, subject)
    push_artifact(oras_alice, registry, tmp_path, "signature", SIGNATURE, subject)

    response = referrers(registry, subject.digest, artifactType=SBOM)

    assert response.status_code == 200, response.text
    assert response.headers.get("OCI-Filters-Applied") == "artifactType"
    assert [(d["digest"], d["artifactType"]) for d in response.json()["manifests"]] == [(sbom, SBOM)]


def test_oras_referrers_of_a_digest_without_referrers_is_an_empty_index(
    oras_alice: Any, registry: LiveServer, tmp_path: Path,
) -> None:
    subject = push_image(oras_alice, registry, tmp_path)

    response = referrers(registry, subject.digest)

    assert response.status_code == 200, response.text
    assert response.json()["manifests"] == []
