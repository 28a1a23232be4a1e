"""The package-database parsers: bytes in, packages out, within limits, never crashing on bad input."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from scanning.limits import LayerError, Limits
from scanning.packages import (
    Package,
    classify,
    parse,
    parse_apk,
    parse_dpkg,
    parse_npm_lock,
    parse_npm_package,
    parse_os_release,
    parse_python,
    parse_rpm_header,
    parse_rpm_sqlite,
)
from tests.scanning import builders

LIMITS = Limits()


def by_name(packages: list[Package]) -> dict[str, Package]:
    return {package.name: package for package in packages}


def test_dpkg_status_keeps_installed_packages_with_their_source_and_epoch() -> None:
    packages = by_name(parse_dpkg(builders.DPKG_STATUS, "var/lib/dpkg/status", LIMITS))

    assert set(packages) == {"libssl3", "zlib1g", "libnettle8", "base-files"}   # libssl1.1 is config-files only
    libssl = packages["libssl3"]
    assert (libssl.kind, libssl.version, libssl.source_name, libssl.source_version, libssl.arch) == (
        "dpkg", "3.0.11-1~deb12u1", "openssl", "3.0.11-1~deb12u1", "amd64")
    assert (packages["zlib1g"].version, packages["zlib1g"].source_name) == ("1:1.2.13.dfsg-1", "zlib")
    assert (packages["libnettle8"].source_name, packages["libnettle8"].source_version) == ("nettle", "3.8.1-2")
    assert (packages["base-files"].source_name, packages["base-files"].path) == ("base-files", "var/lib/dpkg/status")


def test_a_distroless_status_file_without_status_field_counts_as_installed() -> None:
    packages = parse_dpkg(builders.DISTROLESS_LIBSSL, "var/lib/dpkg/status.d/libssl3", LIMITS)

    assert [(p.name, p.version, p.source_name) for p in packages] == [("libssl3", "3.0.11-1~deb12u2", "openssl")]


def test_a_malformed_dpkg_stanza_is_skipped_and_the_rest_kept() -> None:
    data = b"Package: broken\nno colon here\n\n\xff\xfeGarbage: \x00\x01\n\n" + builders.DPKG_STATUS

    names = {package.name for package in parse_dpkg(data, "var/lib/dpkg/status", LIMITS)}

    assert names == {"libssl3", "zlib1g", "libnettle8", "base-files"}


def test_a_dpkg_status_of_a_million_lines_is_refused_quickly() -> None:
    stanza = b"Package: p%d\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
    data = b"".join(stanza.replace(b"%d", str(n).encode()) for n in range(200_000))   # 1,000,000 lines
    started = time.monotonic()

    with pytest.raises(LayerError, match="more than 500000 lines"):
        parse_dpkg(data, "var/lib/dpkg/status", LIMITS)

    assert time.monotonic() - started < 1


def test_too_many_packages_in_one_database_is_refused() -> None:
    data = b"".join(b"P:p%d\nV:1.0-r0\n\n" % n for n in range(20))

    with pytest.raises(LayerError, match="more than 10 packages"):
        parse_apk(data, "lib/apk/db/installed", Limits(max_packages=10))


def test_apk_installed_reads_name_version_origin_and_license() -> None:
    packages = by_name(parse_apk(builders.APK_INSTALLED, "lib/apk/db/installed", LIMITS))

    assert set(packages) == {"musl", "libssl3", "openssl"}
    assert (packages["libssl3"].version, packages["libssl3"].source_name, packages["libssl3"].licenses) == (
        "3.1.4-r0", "openssl", ("Apache-2.0",))


def test_rpm_sqlite_database_made_by_rpm_gives_name_epoch_version_release_and_source(tmp_path: Path) -> None:
    data = builders.rpm_database(tmp_path)

    packages = by_name(parse_rpm_sqlite(data, "var/lib/rpm/rpmdb.sqlite", LIMITS))

    assert set(packages) == {"openssl-libs", "bash"}
    libs = packages["openssl-libs"]
    assert (libs.version, libs.source_name, libs.source_version, libs.arch, libs.licenses) == (
        "1:3.0.7-24.el9", "openssl", "3.0.7-24.el9", "noarch", ("ASL 2.0",))
    assert (packages["bash"].version, packages["bash"].source_name) == ("5.1.8-6.el9", "bash")


def test_an_rpm_database_that_is_not_sqlite_is_refused_with_a_reason() -> None:
    with pytest.raises(LayerError, match="not an sqlite database"):
        parse_rpm_sqlite(b"\x00" * 4096, "var/lib/rpm/rpmdb.sqlite", LIMITS)


def test_an_rpm_header_pointing_outside_its_store_is_rejected_not_read() -> None:
    blob = struct.pack(">ii", 1, 4) + struct.pack(">iiii", 1000, 6, 4000, 1) + b"abc\0"
    tags = parse_rpm_header(blob)                       # the entry is out of bounds: ignored
    assert tags == {}
    with pytest.raises(ValueError):
        parse_rpm_header(struct.pack(">ii", 1_000_000, 4) + b"\0" * 64)


def test_python_metadata_gives_the_normalised_name_and_version() -> None:
    [package] = parse_python(builders.REQUESTS_METADATA, "usr/lib/python3/site-packages/requests-2.31.0.dist-info/"
                             "METADATA", LIMITS)
    [other] = parse_python(b"Metadata-Version: 1.0\nName: Zope.Interface_Extra\nVersion: 6.0\n", "x/PKG-INFO", LIMITS)

    assert (package.kind, package.name, package.version, package.licenses) == (
        "python", "requests", "2.31.0", ("Apache 2.0",))
    assert other.name == "zope-interface-extra"


def test_npm_package_json_and_lock_files_of_both_formats() -> None:
    [lodash] = parse_npm_package(builders.LODASH_PACKAGE, "app/node_modules/lodash/package.json", LIMITS)
    v3 = {(p.name, p.version) for p in parse_npm_lock(builders.PACKAGE_LOCK_V3, "app/package-lock.json", LIMITS)}
    v1 = {(p.name, p.version) for p in parse_npm_lock(builders.PACKAGE_LOCK_V1, "old/package-lock.json", LIMITS)}

    assert (lodash.name, lodash.version, lodash.licenses) == ("lodash", "4.17.15", ("MIT",))
    assert v3 == {("lodash", "4.17.15"), ("express", "4.18.2"), ("debug", "2.6.9")}   # no dev, no link
    assert v1 == {("minimist", "1.2.5"), ("mkdirp", "0.5.5"), ("minimist", "1.2.0")}


def test_broken_or_hostile_json_is_skipped() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert parse_npm_package(deep, "node_modules/x/package.json", LIMITS) == []
    assert parse_npm_package(b"{not json", "node_modules/x/package.json", LIMITS) == []
    assert parse("npm", json.dumps({"name": "a\u0000b", "version": "1"}).encode(), "p", LIMITS) == []
    assert parse("npm", b'{"name": "a\\ud800", "version": "1"}', "p", LIMITS) == []   # jsonb refuses both
    assert parse_npm_lock(b'{"packages": []}', "package-lock.json", LIMITS) == []


def test_os_release_fields_are_unquoted() -> None:
    fields = parse_os_release(builders.DEBIAN_OS_RELEASE, "etc/os-release", LIMITS)

    assert fields["ID"] == "debian"
    assert fields["VERSION_ID"] == "12"
    assert fields["VERSION_CODENAME"] == "bookworm"
    assert fields["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert "HOME_URL" not in fields


@pytest.mark.parametrize(("path", "kind"), [
    ("var/lib/dpkg/status", "dpkg"),
    ("var/lib/dpkg/status.d/libssl3", "dpkg"),
    ("var/lib/dpkg/status.d/libssl3.md5sums", None),
    ("var/lib/dpkg/status-old", None),
    ("lib/apk/db/installed", "apk"),
    ("usr/lib/sysimage/rpm/rpmdb.sqlite", "rpm"),
    ("usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA", "python"),
    ("usr/lib/python3/dist-packages/six-1.16.0.egg-info", "python"),
    ("srv/pkg.egg-info/PKG-INFO", "python"),
    ("app/node_modules/lodash/package.json", "npm"),
    ("app/node_modules/@babel/core/package.json", "npm"),
    ("app/node_modules/lodash/fp/package.json", None),
    ("app/node_modules/@babel/package.json", None),
    ("app/package.json", None),
    ("app/package-lock.json", "npm-lock"),
    ("app/node_modules/x/package-lock.json", None),
    ("etc/os-release", "os-release"),
    ("usr/bin/python3", None),
])
def test_classify_knows_the_package_files_by_path(path: str, kind: str | None) -> None:
    assert classify(path) == kind
