"""Indexing layer blobs (gzip, zstd, plain tar) and composing them into an image's inventory, hostile layers
included: everything here is in memory, nothing is written, no database."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from scanning.inventory import compose
from scanning.layers import LayerError, LayerIndex, Limits, index_layer
from tests.scanning import builders

LIMITS = Limits()
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REQUESTS_DIST = "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info"


def debian_layer(compression: str = "gzip") -> io.BytesIO:
    return builders.layer([
        ("etc/os-release", builders.DEBIAN_OS_RELEASE),
        ("var/lib/dpkg/status", builders.DPKG_STATUS),
        ("usr/bin/openssl", b"\x7fELF" + b"\0" * 4000),
        (f"{REQUESTS_DIST}/METADATA", builders.REQUESTS_METADATA),
        (f"{REQUESTS_DIST}/RECORD", b"requests/__init__.py,,\n"),
        ("app/node_modules/lodash/package.json", builders.LODASH_PACKAGE),
        ("app/node_modules/lodash/lodash.js", b"module.exports = {};\n" * 100),
        ("app/package-lock.json", builders.PACKAGE_LOCK_V3),
    ], compression)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_a_layer_is_indexed_from_gzip_zstd_or_plain_tar(compression: str) -> None:
    index = index_layer(debian_layer(compression), GZIP if compression == "plain" else "", LIMITS)

    assert set(index.files) == {"var/lib/dpkg/status", f"{REQUESTS_DIST}/METADATA",
                                "app/node_modules/lodash/package.json", "app/package-lock.json"}
    assert index.files["var/lib/dpkg/status"].kind == "dpkg"
    assert index.os_release["VERSION_CODENAME"] == "bookworm"
    assert index.entries == 8
    assert index.size == len(debian_layer("plain").getvalue())


def test_a_layer_index_survives_a_json_round_trip() -> None:
    index = index_layer(debian_layer(), GZIP, LIMITS)

    stored = json.loads(json.dumps(index.to_json()))

    assert LayerIndex.from_json(stored) == index
    assert stored["format"] == 1
    assert stored["files"]["var/lib/dpkg/status"]["packages"][0]["name"] == "libssl3"


def test_whiteouts_and_opaque_dirs_are_recorded() -> None:
    index = index_layer(builders.layer([
        ("usr/local/lib/python3.11/site-packages/.wh.requests-2.31.0.dist-info", b""),
        ("app/node_modules/.wh..wh..opq", b""),
        ("etc/.wh..wh.plnk", b""),
    ]), GZIP, LIMITS)

    assert index.whiteouts == [REQUESTS_DIST]
    assert index.opaque_dirs == ["app/node_modules"]


def test_compose_applies_whiteouts_and_attributes_each_package_to_the_layer_that_added_it() -> None:
    base = index_layer(debian_layer(), GZIP, LIMITS)
    upgrade = index_layer(builders.layer([          # apt-get upgrade rewrites the status: zlib1g unchanged
        ("var/lib/dpkg/status", builders.DPKG_STATUS.replace(b"3.0.11-1~deb12u1", b"3.0.11-1~deb12u2")),
    ]), GZIP, LIMITS)
    cleanup = index_layer(builders.layer([
        ("usr/local/lib/python3.11/site-packages/.wh.requests-2.31.0.dist-info", b""),
        ("lib/apk/.wh..wh..opq", b""),
    ]), GZIP, LIMITS)

    inventory = compose([("sha256:base", base), ("sha256:upgrade", upgrade), ("sha256:cleanup", cleanup)])

    found = {(p.kind, p.name): (p.version, p.layer) for p in inventory.packages}
    assert found[("dpkg", "libssl3")] == ("3.0.11-1~deb12u2", "sha256:upgrade")
    assert found[("dpkg", "zlib1g")] == ("1:1.2.13.dfsg-1", "sha256:base")
    assert found[("npm", "lodash")] == ("4.17.15", "sha256:base")
    assert ("python", "requests") not in found
    assert inventory.os_release["ID"] == "debian"
    assert {p.name for p in inventory.os_packages} == {"libssl3", "zlib1g", "libnettle8", "base-files"}
    assert sorted(p.name for p in inventory.language_packages) == ["debug", "express", "lodash"]   # lodash once


def test_a_package_deleted_and_added_again_belongs_to_the_layer_that_added_it_again() -> None:
    metadata = (f"{REQUESTS_DIST}/METADATA", builders.REQUESTS_METADATA)
    layers = [
        ("sha256:one", index_layer(builders.layer([metadata]), GZIP, LIMITS)),
        ("sha256:two", index_layer(builders.layer([(f"{REQUESTS_DIST}/.wh..wh..opq", b"")]), GZIP, LIMITS)),
        ("sha256:three", index_layer(builders.layer([metadata]), GZIP, LIMITS)),
    ]

    assert [p.layer for p in compose(layers[:2]).packages] == []
    assert [p.layer for p in compose(layers).packages] == ["sha256:three"]


def test_an_opaque_dir_hides_everything_below_it_but_not_its_own_layer() -> None:
    alpine = builders.layer([("etc/os-release", builders.ALPINE_OS_RELEASE),
                             ("lib/apk/db/installed", builders.APK_INSTALLED)])
    rebuilt = builders.layer([("lib/apk/db/.wh..wh..opq", b""),
                              ("lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\no:musl\n")])
    layers = [("sha256:a", index_layer(alpine, GZIP, LIMITS)), ("sha256:b", index_layer(rebuilt, GZIP, LIMITS))]

    inventory = compose(layers)

    assert [(p.name, p.layer) for p in inventory.packages] == [("musl", "sha256:b")]
    assert inventory.os_release["VERSION_ID"] == "3.18.4"


def test_distroless_status_files_and_an_rpm_database_are_indexed(tmp_path: Path) -> None:
    index = index_layer(builders.layer([
        ("var/lib/dpkg/status.d/base-files", builders.DISTROLESS_BASE_FILES),
        ("var/lib/dpkg/status.d/libssl3", builders.DISTROLESS_LIBSSL),
        ("var/lib/dpkg/status.d/libssl3.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n"),
        ("var/lib/rpm/rpmdb.sqlite", builders.rpm_database(tmp_path)),
    ], "zstd"), "application/vnd.oci.image.layer.v1.tar+zstd", LIMITS)

    names = {p.name: (p.kind, p.version) for p in compose([("sha256:d", index)]).packages}

    assert names == {"base-files": ("dpkg", "12.4+deb12u5"), "libssl3": ("dpkg", "3.0.11-1~deb12u2"),
                     "openssl-libs": ("rpm", "1:3.0.7-24.el9"), "bash": ("rpm", "5.1.8-6.el9")}


def test_hostile_names_are_normalised_and_never_climb_out() -> None:
    index = index_layer(builders.layer([
        ("../../../var/lib/dpkg/status", builders.DPKG_STATUS),
        ("/lib/apk/db/installed", builders.APK_INSTALLED),
        ("./etc/../etc/os-release", builders.ALPINE_OS_RELEASE),
        ("app/../../.wh.etc", b""),
    ]), GZIP, LIMITS)

    assert set(index.files) == {"var/lib/dpkg/status", "lib/apk/db/installed"}
    assert index.os_release["ID"] == "alpine"
    assert index.whiteouts == ["etc"]


def test_links_are_recorded_never_followed_and_a_loop_is_harmless() -> None:
    base = index_layer(builders.layer([("usr/lib/os-release", builders.DEBIAN_OS_RELEASE)]), GZIP, LIMITS)
    looped = index_layer(builders.layer([
        builders.symlink("etc/os-release", "../usr/lib/os-release"),
        builders.symlink("usr/lib/os-release", "../../etc/os-release"),
        builders.symlink("var/lib/dpkg/status", "/var/lib/dpkg/status"),
        builders.symlink("loop/a", "b"),
        builders.symlink("loop/b", "a"),
    ]), GZIP, LIMITS)

    assert looped.links == {"etc/os-release": "../usr/lib/os-release", "usr/lib/os-release": "../../etc/os-release",
                            "var/lib/dpkg/status": "/var/lib/dpkg/status"}
    assert looped.files == {}
    assert compose([("sha256:a", base)]).os_release["ID"] == "debian"
    assert compose([("sha256:a", base), ("sha256:b", looped)]).os_release == {}   # the link replaced the file


def test_a_decompression_bomb_stops_at_the_size_limit_fast() -> None:
    bomb = builders.gzip_bomb(gib=1)
    started = time.monotonic()

    with pytest.raises(LayerError, match="over the 104857600 byte limit"):
        index_layer(io.BytesIO(bomb), GZIP, Limits(max_layer_size=100 * builders.MiB))

    assert len(bomb) < 2 * builders.MiB
    assert time.monotonic() - started < 5


def test_a_sparse_entry_of_one_gigabyte_is_skipped_without_reading_its_holes(tmp_path: Path) -> None:
    sparse = tmp_path / "root" / "var" / "lib" / "big.img"
    sparse.parent.mkdir(parents=True)
    with sparse.open("wb") as file:
        file.truncate(1024 * builders.MiB)
        file.seek(512 * builders.MiB)
        file.write(b"data in the middle")
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--format=gnu", "--sparse", "-cf", str(archive), "-C", str(tmp_path / "root"), "var"],
                   check=True, timeout=60)
    started = time.monotonic()

    index = index_layer(io.BytesIO(builders.compress(archive.read_bytes(), "gzip")), GZIP,
                        Limits(max_layer_size=100 * builders.MiB))

    assert time.monotonic() - started < 2
    assert index.entries == 3          # var, var/lib and the sparse file
    assert index.size < builders.MiB   # counted as the bytes the tar stores, not the apparent gigabyte


def test_a_truncated_gzip_is_refused_with_a_reason() -> None:
    blob = debian_layer().getvalue()

    with pytest.raises(LayerError, match="truncated gzip"):
        index_layer(io.BytesIO(blob[: len(blob) - 100]), GZIP, LIMITS)


def test_a_truncated_or_corrupt_tar_is_refused_with_a_reason() -> None:
    plain = debian_layer("plain").getvalue()
    corrupt = bytearray(plain)
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:
        third = archive.getmembers()[2].offset
    corrupt[third:third + 512] = b"\x55" * 512     # the header of a later entry

    with pytest.raises(LayerError, match="corrupt tar"):
        index_layer(io.BytesIO(plain[:3000]), "", LIMITS)
    with pytest.raises(LayerError, match="corrupt tar"):
        index_layer(io.BytesIO(bytes(corrupt)), "", LIMITS)
    with pytest.raises(LayerError, match="corrupt"):
        index_layer(io.BytesIO(b"\x1f\x8b\x08\x00" + b"\xff" * 200), GZIP, LIMITS)


def test_entry_and_per_file_limits_are_kept() -> None:
    many = builders.layer([(f"f{n}", b"") for n in range(50)])
    big = builders.layer([("var/lib/dpkg/status", builders.DPKG_STATUS)])

    with pytest.raises(LayerError, match="more than 20 entries"):
        index_layer(many, GZIP, Limits(max_entries=20))
    with pytest.raises(LayerError, match="limit per file"):
        index_layer(big, GZIP, Limits(max_file_size=1000))


def test_a_huge_long_name_header_is_refused_before_it_is_read() -> None:
    info = tarfile.TarInfo("x" * 2_000_000)
    blob = builders.compress(builders.tar_bytes([info], format=tarfile.GNU_FORMAT), "gzip")

    with pytest.raises(LayerError, match="extended header"):
        index_layer(io.BytesIO(blob), GZIP, LIMITS)
