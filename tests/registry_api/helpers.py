"""Push helpers for registry tests: blobs and manifests go in through the HTTP surface, as a client sends them."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import bearer, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_CONFIG = b"{}"


def auth(name: str, actions: str = "pull,push,delete", user: str = "alice") -> str:
    """An Authorization header for `user` holding `actions` on repository `name`."""
    return bearer(user, (name, actions))


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def encode(document: dict[str, Any]) -> bytes:
    # Indented and newline-terminated on purpose: the registry must keep the exact bytes, not re-serialise.
    return json.dumps(document, indent=3).encode() + b"\n"


def push_blob(client: Any, name: str, data: bytes, user: str = "alice") -> str:
    digest = sha256(data)
    response = client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", data=data,
                           content_type="application/octet-stream", HTTP_AUTHORIZATION=auth(name, user=user))
    assert response.status_code == 201, response.content
    return digest


def put_manifest(client: Any, name: str, reference: str, body: bytes, media_type: str,
                 user: str = "alice") -> Any:
    return client.put(f"/v2/{name}/manifests/{reference}", data=body, content_type=media_type,
                      HTTP_AUTHORIZATION=auth(name, user=user))


def push_manifest(client: Any, name: str, reference: str, body: bytes, media_type: str,
                  user: str = "alice") -> str:
    response = put_manifest(client, name, reference, body, media_type, user)
    assert response.status_code == 201, response.content
    return str(response["Docker-Content-Digest"])


def oci_image(client: Any, name: str, seed: str = "a", **extra: Any) -> bytes:
    """Push a config and a layer to `name` and return the bytes of an OCI image manifest for them."""
    config, layer = f'{{"seed": "{seed}"}}'.encode(), f"layer {seed}".encode()
    push_blob(client, name, config)
    push_blob(client, name, layer)
    return encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                   "layers": [descriptor(OCI_LAYER, layer)], **extra})


def docker_image(client: Any, name: str, seed: str = "a") -> bytes:
    """Push a config and a layer to `name` and return the bytes of a Docker schema 2 manifest for them."""
    config, layer = f'{{"docker": "{seed}"}}'.encode(), f"docker layer {seed}".encode()
    push_blob(client, name, config)
    push_blob(client, name, layer)
    return encode({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": descriptor(DOCKER_CONFIG, config),
                   "layers": [descriptor(DOCKER_LAYER, layer)]})


def index_of(media_type: str, children: list[tuple[str, bytes]], **extra: Any) -> bytes:
    """An index (OCI) or manifest list (Docker) over (media type, manifest bytes) pairs."""
    manifests = [descriptor(child_type, body, platform={"architecture": arch, "os": "linux"})
                 for (child_type, body), arch in zip(children, ["amd64", "arm64", "s390x"], strict=False)]
    return encode({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests, **extra})


def artifact(client: Any, name: str, artifact_type: str, subject: dict[str, Any] | None = None,
             payload: bytes = b"artifact", **extra: Any) -> bytes:
    """Push the empty config and a payload and return an OCI artifact manifest (artifactType, empty config)."""
    push_blob(client, name, EMPTY_CONFIG)
    push_blob(client, name, payload)
    document: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, EMPTY_CONFIG), "layers": [descriptor("application/octet-stream", payload)],
        **extra,
    }
    if subject is not None:
        document["subject"] = subject
    return encode(document)
