#!/usr/bin/env python3
"""A repository with 100,000 tags for bench/tagsbench.py, written straight into Wharf's database.

A handful of real manifests go through the registry's services (blobs verified into storage, manifests
parsed and stored by put_manifest): six single-platform images and two OCI indexes over them, a few with a
scan summary. Then the tags, in batches: names as CI systems make them (`v1.2.3`, `v1.2.3-rc.1`,
`build-012345`, `release-2026-11-27.3`, `sha-…`), modified at random times over two years, a few with an
expiry date, one in ten on an index. The substring `-rc` matches one tag in 400 (250 of 100,000): the
filtered case of the benchmark.

Run it with the project's interpreter and the environment of the server it feeds (`make run` style:
DATA_DIR, or DATABASE_URL and the storage variables); SQLite's WAL lets it write while the server runs.
It prints (and with --json writes) what tagsbench needs: the repository, the tag count, the filter and
how many tags match it.

  .venv/bin/python bench/seed_tags.py --user regbench [--repository tags100k] [--tags 100000] [--json F]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from portal.access import Principal  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.repositories import services as repository_services  # noqa: E402
from portal.repositories.models import Repository  # noqa: E402
from registry_api import services  # noqa: E402
from registry_api.content import OCI_INDEX, OCI_MANIFEST  # noqa: E402
from registry_api.models import Tag  # noqa: E402
from registry_api.queries import ManifestRow  # noqa: E402
from scanning.models import ScanStatus, ScanSummary  # noqa: E402

FILTER = "-rc"
BATCH = 5000
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
PLATFORMS = [("amd64", ""), ("arm64", "v8")]
COMMANDS = ["/bin/sh -c #(nop) ADD file:rootfs.tar.gz in /", "RUN apk add --no-cache ca-certificates tzdata",
            "COPY ./dist /app", "RUN pip install --no-cache-dir -r requirements.txt"]


class Bytes:
    """A request body that is already in memory, for services.upload_blob (which reads `expected` and
    `chunks()` of a registry_api.bodies.RequestBody)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.expected = data, len(data)

    def chunks(self) -> Iterator[bytes]:
        yield self.data


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(repository: Repository, data: bytes) -> dict[str, Any]:
    digest = digest_of(data)
    services.upload_blob(repository, digest, Bytes(data))  # type: ignore[arg-type]
    return {"digest": digest, "size": len(data)}


def push_image(repository: Repository, rng: random.Random, release: int, architecture: str, variant: str,
               actor_id: int) -> tuple[ManifestRow, dict[str, Any]]:
    """An image of 2-4 layers of incompressible bytes (tens of KiB each: sizes differ, storage stays small)."""
    layers = [push_blob(repository, rng.randbytes(rng.randrange(8 << 10, 96 << 10)))
              for _ in range(rng.randrange(2, 5))]
    config = {
        "architecture": architecture, "os": "linux", **({"variant": variant} if variant else {}),
        "config": {"Labels": {"org.opencontainers.image.version": f"{release}.0.0", "bench": "tags"}},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        "history": [{"created_by": command} for command in COMMANDS[: len(layers)]],
    }
    config_descriptor = push_blob(repository, json.dumps(config).encode())
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG, **config_descriptor},
        "layers": [{"mediaType": LAYER, **layer} for layer in layers],
    }).encode()
    manifest = services.put_manifest(repository, digest_of(body), body, OCI_MANIFEST, actor_id=actor_id)
    platform = {"os": "linux", "architecture": architecture, **({"variant": variant} if variant else {})}
    return manifest, {"mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": len(body), "platform": platform}


def push_manifests(repository: Repository, actor_id: int,
                   rng: random.Random) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """Three releases of an image for two platforms, and an index over the platforms of the last two."""
    images, indexes = [], []
    for release in (1, 2, 3):
        pair = [push_image(repository, rng, release, arch, variant, actor_id) for arch, variant in PLATFORMS]
        images += [manifest for manifest, _ in pair]
        if release > 1:
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                               "manifests": [descriptor for _, descriptor in pair]}).encode()
            indexes.append(services.put_manifest(repository, digest_of(body), body, OCI_INDEX, actor_id=actor_id))
    return images, indexes


def add_scan_summaries(images: list[ManifestRow]) -> None:
    """Scanned, with findings, being scanned, and (the rest) not scanned: each state the page shows."""
    ScanSummary.objects.bulk_create([
        ScanSummary(manifest_id=images[0].id, status=ScanStatus.DONE, critical=1, high=4, medium=12, low=30, unknown=2),
        ScanSummary(manifest_id=images[1].id, status=ScanStatus.DONE),
        ScanSummary(manifest_id=images[2].id, status=ScanStatus.SCANNING),
    ])


def tag_name(i: int) -> str:
    """The i-th tag's name: four families of 25,000, each unique within itself."""
    k = i // 4
    family = i % 4
    if family == 0:
        return f"build-{k:06d}"
    if family == 1:
        version = f"v{k // 2500}.{k // 50 % 50}.{k % 50}"
        return f"{version}-rc.{k % 3 + 1}" if k % 100 == 7 else version
    if family == 2:
        day = datetime(2020, 1, 1) + timedelta(days=k // 10)
        return f"release-{day:%Y-%m-%d}.{k % 10}"
    return "sha-" + hashlib.sha1(str(i).encode()).hexdigest()[:12]


@contextmanager
def keeping_updated_at() -> Iterator[None]:
    """Let bulk_create store the spread-out times we give: `auto_now` would stamp every tag with now."""
    field = Tag._meta.get_field("updated_at")
    field.auto_now = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        field.auto_now = True  # type: ignore[attr-defined]


def add_tags(repository: Repository, count: int, images: list[ManifestRow], indexes: list[ManifestRow],
             rng: random.Random) -> None:
    now = timezone.now()
    two_years = 2 * 365 * 24 * 3600
    with keeping_updated_at():
        for start in range(0, count, BATCH):
            batch = []
            for i in range(start, min(start + BATCH, count)):
                manifest = rng.choice(indexes) if rng.random() < 0.1 else rng.choice(images)
                expires_at = now + timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.02 else None
                updated_at = now - timedelta(seconds=rng.randrange(two_years), microseconds=rng.randrange(10**6))
                batch.append(Tag(repository=repository, name=tag_name(i), manifest_id=manifest.id,
                                 updated_at=updated_at, expires_at=expires_at))
            # One transaction per batch: the server's own writes wait at most one batch for SQLite's lock.
            with transaction.atomic():
                Tag.objects.bulk_create(batch, batch_size=BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", required=True, help="an existing user; the repository goes in its namespace")
    parser.add_argument("--repository", default="tags100k", help="name within the user's namespace")
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args()
    started = time.perf_counter()
    user = User.objects.select_related("namespace").get(username=args.user)
    principal = Principal.for_user(user)
    full_name = f"{user.username}/{args.repository}"
    if Repository.objects.filter(full_name=full_name).exists():
        sys.exit(f"{full_name} already exists: seed a fresh repository (--repository)")
    repository = repository_services.create_repository(principal, user.namespace, args.repository)
    rng = random.Random(4)   # the same world on every run: comparable figures
    images, indexes = push_manifests(repository, user.pk, rng)
    add_scan_summaries(images)
    add_tags(repository, args.tags, images, indexes, rng)
    summary = {"repository": full_name, "tags": args.tags, "filter": FILTER,
               "filter_matches": sum(FILTER in tag_name(i) for i in range(args.tags)),
               "manifests": len(images) + len(indexes), "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
