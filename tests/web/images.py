"""Images for the page tests, made straight in the database and storage (pushing is tested elsewhere): blobs
in the per-test storage, then the registry's own put_manifest, so tags, history and sizes are the real ones."""

from __future__ import annotations

import json
from typing import Any

from portal.repositories.models import Repository
from registry_api import storage
from registry_api.models import Blob, BlobLink
from registry_api.services.manifests import put_manifest
from tests.factories import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def add_blob(repository: Repository, data: bytes) -> str:
    """Store the bytes and link them to the repository, as a finished upload would; returns the digest."""
    digest = sha256(data)
    writer = storage.backend().writer(storage.blob_key(digest))
    writer.write(data)
    writer.close()
    blob, _ = Blob.objects.get_or_create(digest=digest, defaults={"size": len(data)})
    BlobLink.objects.get_or_create(repository=repository, blob=blob)
    return digest


def config_of(*commands: str, labels: dict[str, str] | None = None, os: str = "linux",
              architecture: str = "amd64") -> bytes:
    """An image config whose history has one step per command; "#(nop)" steps make no layer, like ENV."""
    history = [{"created_by": c, **({"empty_layer": True} if "#(nop)" in c else {})} for c in commands]
    return json.dumps({"architecture": architecture, "os": os, "config": {"Labels": labels or {}},
                       "rootfs": {"type": "layers", "diff_ids": []}, "history": history}).encode()


def make_image(repository: Repository, tag: str | None, *, layers: list[bytes] | None = None,
               config: bytes | None = None, annotations: dict[str, str] | None = None,
               subject: dict[str, Any] | None = None, artifact_type: str = "", actor_id: int | None = None) -> str:
    """Push an OCI image (tag None: by digest only); returns its manifest digest."""
    layers = [b"layer " + tag.encode()] if layers is None and tag else (layers or [b"layer"])
    config = config if config is not None else config_of(*(f"COPY file{i} /" for i in range(len(layers))))
    document: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": add_blob(repository, config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": add_blob(repository, layer), "size": len(layer)}
                   for layer in layers],
    }
    if annotations:
        document["annotations"] = annotations
    if subject:
        document["subject"] = subject
    if artifact_type:
        document["artifactType"] = artifact_type
    body = json.dumps(document).encode()
    reference = tag or sha256(body)
    return put_manifest(repository, reference, body, OCI_MANIFEST, actor_id=actor_id).digest


def make_index(repository: Repository, tag: str, platforms: dict[str, str]) -> str:
    """An OCI index over manifests already pushed: {"linux/arm64/v8": digest, ...}; returns its digest."""
    manifests = []
    for name, digest in platforms.items():
        os, architecture, *variant = name.split("/")
        platform = {"os": os, "architecture": architecture, **({"variant": variant[0]} if variant else {})}
        manifests.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": 100, "platform": platform})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    return put_manifest(repository, tag, body, OCI_INDEX).digest
