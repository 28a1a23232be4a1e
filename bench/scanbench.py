#!/usr/bin/env python3
"""Issue 13's speed targets for the scanner, in one run on the database of its environment:

(a) indexing a ~300 MB gzip layer of ordinary files beside `gzip -d` on the same file (bench/indexbench.py
    makes the layer; both are the best of --repeat runs with the file in the page cache);
(b) matching a 500-package inventory against 100,000 advisories (target: under 1 s);
(c) importing 100 new advisories over 1,000 stored inventories: the re-match's time, how many manifests were
    matched again, and that no layer was read (scanning.layers.index_layer is counted; the bench fails if it
    ran).

The advisories are synthetic but shaped like OSV's: Debian, Ubuntu, Alpine, Rocky Linux, PyPI, npm, Go and
Maven records, GHSA ids with CVE aliases and CVSS vectors, DSAs with an `upstream` CVE, ALPINE-CVE ids, one
or two `affected` entries each with introduced/fixed (some last_affected, some unfixed) ranges. Popular
package names get many advisories, as openssl and lodash do. The 100,000 are written with bulk inserts (the
import path is what (c) measures); everything is seeded from one random seed, so runs compare.

It writes into the database of its environment (DATA_DIR, or DATABASE_URL): point it at a scratch one, as
scripts/bench.sh does; it migrates it first.

  DATA_DIR=$(mktemp -d) .venv/bin/python bench/scanbench.py [--size-mb 300] [--skip-layer] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench import indexbench  # noqa: E402
from portal.accounts.models import Namespace, User  # noqa: E402
from portal.db import write_transaction  # noqa: E402
from portal.repositories.models import Repository  # noqa: E402
from registry_api.models import Manifest  # noqa: E402
from scanning import layers, match, osv, services, store  # noqa: E402
from scanning.models import Advisory, AffectedPackage, Finding, ImagePackage, ScanStatus, ScanSummary  # noqa: E402
from scanning.versions import base_ecosystem  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
NAMES = 3000     # package names per base ecosystem
VECTORS = ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N")
# (ecosystem as advisories write it, as images give it, package kind, share of the advisories)
ECOSYSTEMS = (("Debian:12", "Debian:12", "dpkg", 14), ("Debian:11", "Debian:11", "dpkg", 12),
              ("Ubuntu:22.04:LTS", "Ubuntu:22.04", "dpkg", 14), ("Alpine:v3.18", "Alpine:v3.18", "apk", 8),
              ("Rocky Linux:9", "Rocky Linux:9", "rpm", 6), ("PyPI", "PyPI", "python", 16),
              ("npm", "npm", "npm", 18), ("Go", "Go", "go", 7), ("Maven", "Maven", "maven", 5))


# --- versions and names -----------------------------------------------------------------------------------

def version(rng: random.Random, ecosystem: str, installed: bool = False) -> str:
    """A version; an installed one is from the newer half (images are mostly kept up to date)."""
    major, minor, patch = rng.randrange(2 if installed else 0, 5), rng.randrange(0, 20), rng.randrange(0, 30)
    base = base_ecosystem(ecosystem)
    if base == "Debian":
        return f"{major}.{minor}.{patch}-{rng.randrange(1, 4)}+deb{ecosystem[-2:]}u{rng.randrange(1, 4)}"
    if base == "Ubuntu":
        return f"{major}.{minor}.{patch}-{rng.randrange(1, 4)}ubuntu{rng.randrange(0, 3)}.{rng.randrange(1, 9)}"
    if base == "Alpine":
        return f"{major}.{minor}.{patch}-r{rng.randrange(0, 5)}"
    if base == "Rocky Linux":
        return f"{major}.{minor}.{patch}-{rng.randrange(1, 30)}.el9"
    if base == "Go":
        return f"{major}.{minor}.{patch}"
    return f"{major}.{minor}.{patch}"


def name(base: str, index: int) -> str:
    prefix = {"Debian": "deb", "Ubuntu": "deb", "Alpine": "apk", "Rocky Linux": "rpm", "PyPI": "py",
              "npm": "js", "Go": "github.com/org/mod", "Maven": "org.example:artifact"}[base]
    return f"{prefix}-{index}"


def popular(rng: random.Random) -> int:
    """A name index skewed to the first names: popular packages get most advisories (the first a few hundred)."""
    return int(NAMES * rng.random() ** 2)


# --- synthetic OSV records --------------------------------------------------------------------------------

def osv_record(rng: random.Random, number: int, *, modified: str = "2024-05-01T00:00:00Z",
               prefix: str = "", names: Callable[[random.Random], int] = popular) -> dict[str, Any]:
    ecosystem = rng.choices([e[0] for e in ECOSYSTEMS], weights=[e[3] for e in ECOSYSTEMS])[0]
    base = base_ecosystem(ecosystem)
    cve = f"CVE-{2015 + number % 10}-{10000 + number}"
    package = name(base, names(rng))
    raw: dict[str, Any] = {"schema_version": "1.6.0", "modified": modified, "published": "2023-01-01T00:00:00Z",
                           "summary": f"{package}: a synthetic vulnerability", "details": "Synthetic. " * 20,
                           "references": [{"type": "ADVISORY", "url": f"https://example.org/{cve}"}]}
    if base in ("PyPI", "npm", "Go", "Maven"):
        raw["id"] = f"{prefix}GHSA-{number:04x}-{rng.randrange(16**4):04x}-bench"
        raw["aliases"] = [cve]
        raw["severity"] = [{"type": "CVSS_V3", "score": rng.choice(VECTORS)}]
    elif base == "Debian":
        raw["id"] = f"{prefix}DSA-{number}-1"
        raw["upstream"] = [cve]
    elif base == "Alpine":
        raw["id"] = f"{prefix}ALPINE-{cve}"
    else:
        raw["id"] = f"{prefix}{base.upper().replace(' ', '')}-{cve}"
        raw["aliases"] = [cve]
    ecosystems = [ecosystem]
    if ecosystem == "Debian:12" and rng.random() < 0.3:
        ecosystems.append("Debian:11")     # one DSA, both releases
    raw["affected"] = [affected_entry(rng, each, package) for each in ecosystems]
    return raw


def affected_entry(rng: random.Random, ecosystem: str, package: str) -> dict[str, Any]:
    low, high = sorted((version(rng, ecosystem), version(rng, ecosystem)))
    kind = "SEMVER" if ecosystem in ("npm", "Go") else "ECOSYSTEM"
    events: list[dict[str, str]] = [{"introduced": "0" if rng.random() < 0.6 else low}]
    roll = rng.random()
    if roll < 0.8:
        events.append({"fixed": high})
    elif roll < 0.9:
        events.append({"last_affected": high})
    return {"package": {"ecosystem": ecosystem, "name": package}, "ranges": [{"type": kind, "events": events}]}


def seed_advisories(count: int, rng: random.Random) -> None:
    """`count` records parsed by scanning.osv and written as scanning.store writes them, in bulk."""
    for start in range(0, count, 5000):
        records = [osv.parse(osv_record(rng, number)) for number in range(start, min(start + 5000, count))]
        with write_transaction():
            advisories = Advisory.objects.bulk_create([Advisory(
                osv_id=r.id, merge_key=osv.merge_key(r), modified=r.modified, published=r.published,
                aliases=r.aliases, summary=r.summary, details=r.details, severity=int(r.severity),
                vector=r.vector, references=r.references) for r in records], batch_size=1000)
            AffectedPackage.objects.bulk_create([AffectedPackage(
                advisory_id=advisory.pk, ecosystem=entry.ecosystem, base_ecosystem=store.affected_key(
                    entry.ecosystem, entry.name)[0], name=store.affected_key(entry.ecosystem, entry.name)[1],
                ranges=entry.ranges, versions=entry.versions)
                for advisory, record in zip(advisories, records, strict=True) for entry in record.affected],
                batch_size=1000)


# --- inventories ------------------------------------------------------------------------------------------

def repository() -> Repository:
    user, _ = User.objects.get_or_create(username="scanbench")
    namespace, _ = Namespace.objects.get_or_create(name="scanbench", defaults={"user": user})
    repo, _ = Repository.objects.get_or_create(namespace=namespace, name="images", full_name="scanbench/images")
    return repo


def inventory(rng: random.Random, os_ecosystem: str, os_count: int, language: int) -> Iterator[dict[str, Any]]:
    """An image's packages: `os_count` distribution packages (by source name), then language packages."""
    kind = {"Debian": "dpkg", "Ubuntu": "dpkg", "Alpine": "apk", "Rocky Linux": "rpm"}[base_ecosystem(os_ecosystem)]
    for index in rng.sample(range(NAMES // 4), os_count):
        source = name(base_ecosystem(os_ecosystem), index)
        installed = version(rng, os_ecosystem, installed=True)
        yield {"kind": kind, "ecosystem": os_ecosystem, "base_ecosystem": base_ecosystem(os_ecosystem),
               "name": f"lib{source}", "version": installed, "source_name": source, "source_version": installed}
    for _ in range(language):
        ecosystem = rng.choice(("PyPI", "npm", "npm", "Go", "Maven"))
        yield {"kind": {"PyPI": "python", "npm": "npm", "Go": "go", "Maven": "maven"}[ecosystem],
               "ecosystem": ecosystem, "base_ecosystem": ecosystem, "name": name(ecosystem, rng.randrange(NAMES // 3)),
               "version": version(rng, ecosystem, installed=True), "source_name": "", "source_version": ""}


def manifests(repo: Repository, count: int, tag: str) -> list[Manifest]:
    rows = Manifest.objects.bulk_create([
        Manifest(repository=repo, digest=f"sha256:{tag}{n:063d}", media_type=OCI_MANIFEST, content=b"{}", size=2)
        for n in range(count)], batch_size=1000)
    if not all(row.pk for row in rows):     # SQLite before 3.35 returns no ids from a bulk insert
        rows = list(Manifest.objects.filter(repository=repo, digest__startswith=f"sha256:{tag}").order_by("pk"))
    return rows


def store_inventory(manifest: Manifest, packages: list[dict[str, Any]]) -> list[ImagePackage]:
    return ImagePackage.objects.bulk_create([ImagePackage(manifest=manifest, **p) for p in packages], batch_size=1000)


# --- measurements -----------------------------------------------------------------------------------------

def layer_speed(size_mb: int, repeat: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="scanbench-"))
    path = workdir / "layer.tar.gz"
    try:
        started = time.perf_counter()
        indexbench.make_layer(path, size_mb)
        made = time.perf_counter() - started
        result: dict[str, Any] = {}

        def index() -> None:
            with path.open("rb") as file:
                result["index"] = layers.index_layer(file, "application/vnd.oci.image.layer.v1.tar+gzip",
                                                     layers.Limits())

        gzip_d = indexbench.best(repeat, lambda: indexbench.gzip_d(path))
        zlib_only = indexbench.best(repeat, lambda: indexbench.zlib_only(path))    # the indexer's inflate alone
        indexed = indexbench.best(repeat, index)
        layer = result["index"]
        return {"compressed_mb": round(path.stat().st_size / 2**20, 1), "uncompressed_mb": round(layer.size / 2**20, 1),
                "entries": layer.entries, "packages": sum(len(f.packages) for f in layer.files.values()),
                "made_in_s": round(made, 1), "gzip_d_s": round(gzip_d, 3), "python_zlib_s": round(zlib_only, 3),
                "index_layer_s": round(indexed, 3),
                "index_vs_gzip_d": round(indexed / gzip_d, 2)}
    finally:
        path.unlink(missing_ok=True)
        workdir.rmdir()


def match_speed(repo: Repository, rng: random.Random, repeat: int) -> dict[str, Any]:
    manifest = manifests(repo, 1, "b")[0]
    packages = store_inventory(manifest, list(inventory(rng, "Debian:12", 250, 250)))
    times, hits = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        hits = match.match(packages)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    with write_transaction():
        match.write_findings(manifest.pk, packages, match.match(packages))
    written = time.perf_counter() - started
    return {"packages": len(packages), "advisories": Advisory.objects.count(),
            "affected_rows": AffectedPackage.objects.count(), "findings": len(hits),
            "match_s": round(min(times), 3), "match_and_write_s": round(written, 3), "target_s": 1.0,
            "met": min(times) < 1.0}


def rematch_speed(repo: Repository, rng: random.Random, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    bases = [list(inventory(rng, "Debian:12", 120, 0)) for _ in range(5)]    # images share base layers
    rows = manifests(repo, count, "c")
    with write_transaction():
        for n, manifest in enumerate(rows):
            store_inventory(manifest, bases[n % 5] + list(inventory(rng, "Debian:12", 0, 80)))
        ScanSummary.objects.bulk_create([ScanSummary(manifest=m, status=ScanStatus.DONE) for m in rows],
                                        batch_size=1000)
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    for manifest in rows:
        services.rematch(manifest.pk)
    full = time.perf_counter() - started
    before = Finding.objects.filter(manifest__in=rows).count()

    def moderately_popular(rng: random.Random) -> int:
        return rng.randrange(20, NAMES // 4)

    new = [osv.parse(osv_record(rng, 900_000 + n, modified="2025-01-01T00:00:00Z", prefix="NEW-",
                                names=moderately_popular)) for n in range(100)]
    calls = []
    real = layers.index_layer

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    layers.index_layer = counted    # type: ignore[assignment]
    try:
        started = time.perf_counter()
        run = store.import_records(new, source="scanbench")
        imported = time.perf_counter() - started
    finally:
        layers.index_layer = real    # type: ignore[assignment]
    assert not calls, f"re-matching read {len(calls)} layers"
    return {"inventories": count, "packages": ImagePackage.objects.filter(manifest__in=rows).count(),
            "seeded_in_s": round(seeded, 1), "full_rematch_s": round(full, 1), "findings_before": before,
            "new_advisories": run.upserted, "rematched_manifests": run.rematched,
            "import_and_rematch_s": round(imported, 2),
            "findings_after": Finding.objects.filter(manifest__in=rows).count(), "index_layer_calls": len(calls)}


def table(report: dict[str, Any]) -> str:
    lines = [f"scanbench on {report['vendor']}", f"{'measure':<44} {'value':>14}", "-" * 59]
    for part, values in report.items():
        if isinstance(values, dict):
            for key, value in values.items():
                lines.append(f"{part + '.' + key:<44} {value!s:>14}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=300, help="compressed size of the layer in (a)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--inventories", type=int, default=1000)
    parser.add_argument("--skip-layer", action="store_true", help="skip (a), which needs no database")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    rng = random.Random(13)
    report: dict[str, Any] = {"vendor": connection.vendor, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not args.skip_layer:
        report["layer"] = layer_speed(args.size_mb, args.repeat)
        print(json.dumps({"layer": report["layer"]}), file=sys.stderr)
    started = time.perf_counter()
    seed_advisories(args.advisories, rng)
    report["seed"] = {"advisories": args.advisories, "seconds": round(time.perf_counter() - started, 1)}
    repo = repository()
    report["match"] = match_speed(repo, rng, args.repeat)
    print(json.dumps({"match": report["match"]}), file=sys.stderr)
    report["rematch"] = rematch_speed(repo, rng, args.inventories)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not report["match"]["met"]:
        sys.exit("matching 500 packages took over 1 s")


if __name__ == "__main__":
    main()
