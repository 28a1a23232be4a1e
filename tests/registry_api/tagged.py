"""Images for the tag tests: blobs go in through /v2/ (tests.registry_api.helpers), manifests through
registry_api.services.put_manifest, so a test can name the actor and skip the HTTP path it does not test."""

from __future__ import annotations

import json
from typing import Any

from portal.repositories.models import Repository
from registry_api import services
from tests.factories import sha256
from tests.registry_api.helpers import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, descriptor, encode, push_blob

HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:0a1b2c in / "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    {"created_by": "RUN /bin/sh -c apk add --no-cache curl # buildkit", "comment": "buildkit.dockerfile.v0"},
]


def image(seed: str = "a", architecture: str = "amd64", labels: dict[str, str] | None = None,
          **extra: Any) -> tuple[list[bytes], bytes]:
    """The blobs (config with history and labels, two layers) and the manifest of an OCI image; the same
    arguments always give the same bytes, so a test may know a digest before pushing it."""
    config = json.dumps({"architecture": architecture, "os": "linux", "seed": seed,
                         "config": {"Labels": labels or {}}, "history": HISTORY}).encode()
    layers = [f"base layer {seed}".encode(), f"curl layer {seed}".encode()]
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                   "layers": [descriptor(OCI_LAYER, layer) for layer in layers], **extra})
    return [config, *layers], body


def push_image(client: Any, repository: Repository, tag: str | None = None, seed: str = "a", *,
               architecture: str = "amd64", labels: dict[str, str] | None = None, actor_id: int | None = None,
               **extra: Any) -> str:
    """Push `image(...)` and, given `tag`, tag it; returns its digest."""
    blobs, body = image(seed, architecture, labels, **extra)
    for blob in blobs:
        push_blob(client, repository.full_name, blob)
    return services.put_manifest(repository, tag or sha256(body), body, OCI_MANIFEST, actor_id).digest


def push_index(client: Any, repository: Repository, tag: str, seed: str = "multi") -> tuple[str, list[str]]:
    """Push an amd64 and an arm64/v8 image and an OCI index over them tagged `tag`; (index, children)."""
    children = [push_image(client, repository, None, f"{seed}-{arch}", architecture=arch)
                for arch in ("amd64", "arm64")]
    bodies = [bytes(services.get_manifest(repository, digest).content) for digest in children]
    platforms = [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [descriptor(OCI_MANIFEST, child, platform=platform)
                                 for child, platform in zip(bodies, platforms, strict=True)]})
    return services.put_manifest(repository, tag, body, OCI_INDEX).digest, children
