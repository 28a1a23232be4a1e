"""Images for the scan tests: layers built by tests.scanning.builders, pushed into storage through /v2/ and
their manifests stored by registry_api.services.put_manifest, as a client's push leaves them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from portal.repositories.models import Repository
from registry_api import services
from registry_api.models import Manifest
from scanning import store
from scanning.models import ImportRun
from tests.factories import sha256
from tests.registry_api.helpers import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, descriptor, encode, push_blob
from tests.scanning import builders

FIXTURES = Path(__file__).parent / "osv"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REQUESTS_DIST = "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info"


def debian_base() -> bytes:
    return builders.layer([("etc/os-release", builders.DEBIAN_OS_RELEASE),
                           ("var/lib/dpkg/status", builders.DPKG_STATUS)]).getvalue()


def app_layer() -> bytes:
    """requests 2.31.0, lodash 4.17.15 and lodash-es 4.17.15 (the next layer deletes lodash-es)."""
    return builders.layer([
        (f"{REQUESTS_DIST}/METADATA", builders.REQUESTS_METADATA),
        ("app/node_modules/lodash/package.json", builders.LODASH_PACKAGE),
        ("app/node_modules/lodash-es/package.json",
         json.dumps({"name": "lodash-es", "version": "4.17.15"}).encode()),
    ]).getvalue()


def cleanup_layer() -> bytes:
    return builders.layer([("app/node_modules/.wh.lodash-es", b"")]).getvalue()


def alpine_base() -> bytes:
    return builders.layer([("etc/os-release", builders.ALPINE_OS_RELEASE),
                           ("lib/apk/db/installed", builders.APK_INSTALLED)]).getvalue()


def config(architecture: str = "amd64", **extra: Any) -> bytes:
    return json.dumps({"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}, **extra}).encode()


def push_image(client: Any, repository: Repository, layers: list[bytes], *, tag: str | None = None,
               architecture: str = "amd64", config_type: str = OCI_CONFIG, history: list[str] | None = None,
               **extra: Any) -> Manifest:
    """Push the blobs and store the manifest; returns the Manifest row. `history` gives each layer's
    Dockerfile step (the config's history, created_by)."""
    steps = {"history": [{"created_by": step} for step in history]} if history else {}
    image_config = config(architecture, **steps)
    for blob in (image_config, *layers):
        push_blob(client, repository.full_name, blob)
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config_type, image_config),
                   "layers": [descriptor(GZIP_LAYER, layer) for layer in layers], **extra})
    row = services.put_manifest(repository, tag or sha256(body), body, OCI_MANIFEST)
    return Manifest.objects.get(pk=row.id)


def push_index(repository: Repository, children: list[Manifest], tag: str | None = None) -> Manifest:
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(child.media_type, bytes(child.content), platform={"architecture": arch, "os": "linux"})
        for child, arch in zip(children, ["amd64", "arm64", "s390x"], strict=False)]})
    row = services.put_manifest(repository, tag or sha256(body), body, OCI_INDEX)
    return Manifest.objects.get(pk=row.id)


def import_fixtures(*names: str) -> ImportRun:
    """The fixture advisories (all, or the named files) into the store."""
    if not names:
        return store.import_source(FIXTURES)
    from scanning import osv

    return store.import_records([record for name in names for record in osv.read(FIXTURES / f"{name}.json")])
