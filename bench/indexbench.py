#!/usr/bin/env python3
"""Index a ~300 MB gzip layer of ordinary files and compare with `gzip -d` on the same file, in the same run
(issue 13's target: indexing at close to gzip -d speed). No database, no Django.

The layer holds files from 1 KiB to 4 MiB, part random bytes and part text, so it compresses about 2:1 like a
layer of binaries and sources, plus a dpkg status and some package.json files so the indexer reads a little.
Each figure is the best of --repeat runs (the file is in the page cache for all of them).

  .venv/bin/python bench/indexbench.py [--size-mb 300] [--repeat 3] [--keep FILE]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanning.layers import Limits, index_layer  # noqa: E402

MiB = 1024 * 1024
WORDS = (b"static int return struct const void unsigned char buffer length error offset size data "
         b"import from def class self none true false print value key index layer package version ").split()


def make_layer(path: Path, compressed_mb: int) -> None:
    rng = random.Random(13)
    text = b" ".join(rng.choice(WORDS) for _ in range(2 * MiB // 6))
    with gzip.open(path, "wb", compresslevel=6) as out, tarfile.open(fileobj=out, mode="w|") as archive:
        add(archive, "var/lib/dpkg/status", b"".join(
            b"Package: p%d\nStatus: install ok installed\nVersion: 1.%d\nArchitecture: amd64\n\n" % (n, n)
            for n in range(3000)))
        for n in range(200):
            add(archive, f"app/node_modules/pkg{n}/package.json", b'{"name": "pkg%d", "version": "1.0.%d"}' % (n, n))
        number = 0
        while out.fileobj.tell() < compressed_mb * MiB:  # type: ignore[union-attr]
            size = int(rng.choice((1, 4, 16, 64, 256, 1024, 4096)) * 1024 * rng.uniform(0.5, 1.0))
            half = size // 2
            start = rng.randrange(0, len(text) - half)
            add(archive, f"usr/share/data/{number // 1000}/file{number}.bin", os.urandom(size - half)
                + text[start:start + half])
            number += 1


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def best(repeat: int, run) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def gzip_d(path: Path) -> None:
    subprocess.run(["gzip", "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)


def zlib_only(path: Path) -> None:
    decompressor = zlib.decompressobj(wbits=31)
    with path.open("rb") as file:
        while chunk := file.read(MiB):
            decompressor.decompress(chunk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300, help="compressed size of the layer")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse or keep the layer at this path")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="indexbench-"))
    path = args.keep or workdir / "layer.tar.gz"
    if not path.exists():
        started = time.perf_counter()
        make_layer(path, args.size_mb)
        print(f"made {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    compressed = path.stat().st_size
    result: dict[str, object] = {}

    def index() -> None:
        with path.open("rb") as file:
            result["index"] = index_layer(file, "application/vnd.oci.image.layer.v1.tar+gzip", Limits())

    seconds = {"gzip_d": best(args.repeat, lambda: gzip_d(path)),
               "python_zlib": best(args.repeat, lambda: zlib_only(path)),
               "index_layer": best(args.repeat, index)}
    layer = result["index"]
    uncompressed = layer.size  # type: ignore[attr-defined]
    report = {
        "compressed_mb": round(compressed / MiB, 1),
        "uncompressed_mb": round(uncompressed / MiB, 1),
        "entries": layer.entries,  # type: ignore[attr-defined]
        "packages": sum(len(f.packages) for f in layer.files.values()),  # type: ignore[attr-defined]
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
        "uncompressed_mb_per_s": {name: round(uncompressed / MiB / value, 1) for name, value in seconds.items()},
        "index_vs_gzip_d": round(seconds["index_layer"] / seconds["gzip_d"], 2),
    }
    print(json.dumps(report, indent=2))
    if not args.keep:
        path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
