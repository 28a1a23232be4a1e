#!/usr/bin/env python3
"""Garbage collection over many blobs: time and peak memory of a dry run and a run, and what the push path's
row locks (registry_api.queries._key_share) cost on PostgreSQL.

It writes into the database and storage of its environment (DATA_DIR, or DATABASE_URL and the storage
variables), so point it at a scratch one: it migrates it, then seeds `--blobs` blobs (bytes in storage, a Blob
row and a link each) under manifests of ten blobs; half the manifests are tagged, half are untagged and old
(garbage, with their blobs), and every row is older than the grace period.

  DATA_DIR=$(mktemp -d) .venv/bin/python bench/gcbench.py --blobs 10000
  DATABASE_URL=postgresql://…/scratch DATA_DIR=$(mktemp -d) .venv/bin/python bench/gcbench.py --push-cost
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from portal.accounts.models import Namespace, User  # noqa: E402
from portal.repositories.models import Repository  # noqa: E402
from registry_api import queries, services, storage  # noqa: E402
from registry_api.models import Blob, BlobLink, Manifest, Tag  # noqa: E402
from registry_api.services import gc  # noqa: E402

PER_MANIFEST = 10
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def repository(name: str) -> Repository:
    user, _ = User.objects.get_or_create(username="gcbench")
    namespace, _ = Namespace.objects.get_or_create(name="gcbench", defaults={"user": user})
    repo, _ = Repository.objects.get_or_create(namespace=namespace, name=name, full_name=f"gcbench/{name}")
    return repo


def seed(blobs: int) -> None:
    repo, old = repository("seed"), timezone.now() - timedelta(days=30)
    backend = storage.backend()
    for start in range(0, blobs, 1000):
        datas = [f"gcbench blob {i}".encode() * 4 for i in range(start, min(start + 1000, blobs))]
        for data in datas:
            writer = backend.writer(storage.blob_key(digest(data)))
            writer.write(data)
            writer.close()
        rows = Blob.objects.bulk_create([Blob(digest=digest(d), size=len(d)) for d in datas])
        BlobLink.objects.bulk_create([BlobLink(repository=repo, blob=b) for b in rows])
        for m in range(0, len(rows), PER_MANIFEST):
            n = (start + m) // PER_MANIFEST
            manifest = Manifest.objects.create(repository=repo, digest=digest(b"manifest %d" % n),
                                               media_type=OCI_MANIFEST, content=b"{}", size=2)
            manifest.blobs.set(rows[m:m + PER_MANIFEST])
            if n % 2 == 0:
                Tag.objects.create(repository=repo, name=f"t{n}", manifest=manifest)
    for model in (Blob, BlobLink, Manifest):
        model.objects.update(created_at=old)


def measured(label: str, dry_run: bool) -> dict[str, object]:
    started = time.perf_counter()
    run = gc.run(dry_run=dry_run)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"label": label, "seconds": round(seconds, 2), "peak_rss_mib": round(peak_mib, 1),
              "manifests": run.manifests_removed, "links": run.links_removed, "blobs": run.blobs_removed,
              "bytes": run.bytes_freed}
    print(json.dumps(result))
    return result


def push_cost(pushes: int, layers: int) -> None:
    """Manifest pushes of `layers` blobs each, with and without the links' KEY SHARE locks, alternating."""
    repo = repository("pushcost")
    datas = [b"pushcost layer %d" % i for i in range(layers)]
    for data in datas:
        services.upload_blob(queries.repository(repo.full_name), digest(data),  # type: ignore[arg-type]
                             _Body(data))
    real = queries._key_share
    timings: dict[str, list[float]] = {"locked": [], "unlocked": []}
    for i in range(pushes):
        for mode in ("locked", "unlocked") if i % 2 else ("unlocked", "locked"):
            queries._key_share = real if mode == "locked" else (lambda alias: "")  # type: ignore[assignment]
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "n": f"{mode}{i}",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": digest(datas[0]), "size": len(datas[0])},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": digest(d), "size": len(d)} for d in datas[1:]]}).encode()
            started = time.perf_counter()
            services.put_manifest(repo, f"{mode}-{i}", body, OCI_MANIFEST)
            timings[mode].append(time.perf_counter() - started)
    queries._key_share = real  # type: ignore[assignment]
    for mode, values in timings.items():
        values.sort()
        print(json.dumps({"push_cost": mode, "vendor": connection.vendor, "layers": layers, "pushes": pushes,
                          "median_ms": round(values[len(values) // 2] * 1000, 3),
                          "p90_ms": round(values[int(len(values) * 0.9)] * 1000, 3)}))


class _Body:
    """Just enough of registry_api.bodies.RequestBody for a monolithic upload."""

    def __init__(self, data: bytes) -> None:
        self.data, self.expected = data, len(data)

    def chunks(self):  # type: ignore[no-untyped-def]
        yield self.data

    def abandon(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blobs", type=int, default=10_000)
    parser.add_argument("--push-cost", action="store_true", help="measure the push path's locks instead")
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--layers", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.push_cost:
        push_cost(args.pushes, args.layers)
        return
    started = time.perf_counter()
    seed(args.blobs)
    print(json.dumps({"seeded_blobs": args.blobs, "seconds": round(time.perf_counter() - started, 1),
                      "vendor": connection.vendor, "storage": storage.backend().__class__.__name__}))
    measured("dry run", True)
    measured("run", False)
    measured("second run (nothing to do)", False)


if __name__ == "__main__":
    main()
