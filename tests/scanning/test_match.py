"""Matching stored packages against stored advisories: by source name within the release for OS packages,
by name for language packages, in batched queries."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scanning import match
from scanning.models import Advisory, AffectedPackage, ImagePackage
from tests.factories import make_repository
from tests.registry_api.helpers import OCI_MANIFEST

pytestmark = pytest.mark.django_db
NOW = datetime(2024, 1, 1, tzinfo=UTC)
# The figure is 100,000 (WHARF_BENCH_ADVISORIES=100000 measures it); the suite stays quick.
ADVISORIES = int(os.environ.get("WHARF_BENCH_ADVISORIES", "5000"))


def fixed_below(version: str) -> list[dict]:
    return [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": version}]}]


def advisory(osv_id: str, ecosystem: str, name: str, fixed: str, severity: int = 3) -> Advisory:
    row = Advisory.objects.create(osv_id=osv_id, merge_key=osv_id, modified=NOW, severity=severity)
    AffectedPackage.objects.create(advisory=row, ecosystem=ecosystem, base_ecosystem=ecosystem.split(":")[0],
                                   name=name, ranges=fixed_below(fixed))
    return row


@pytest.fixture
def manifest(db):  # type: ignore[no-untyped-def]
    from registry_api.models import Manifest

    repository = make_repository("acme/app")
    return Manifest.objects.create(repository=repository, digest="sha256:" + "a" * 64, media_type=OCI_MANIFEST,
                                   content=b"{}", size=2)


def package(manifest, kind: str, ecosystem: str, name: str, version: str, source: str = "",  # type: ignore[no-untyped-def]
            source_version: str = "") -> ImagePackage:
    return ImagePackage.objects.create(manifest=manifest, kind=kind, ecosystem=ecosystem,
                                       base_ecosystem=ecosystem.split(":")[0], name=name, version=version,
                                       source_name=source or name, source_version=source_version or version)


def test_os_packages_match_by_source_name_and_only_in_their_own_release(manifest):
    libssl = package(manifest, "dpkg", "Debian:12", "libssl3", "3.0.11-1~deb12u1", "openssl")
    advisory("DSA-12", "Debian:12", "openssl", "3.0.11-1~deb12u2")
    advisory("DSA-11", "Debian:11", "openssl", "9.9")             # another release
    advisory("BIN", "Debian:12", "libssl3", "9.9")                # Debian advisories never name binaries

    hits = match.match([libssl])

    assert [Advisory.objects.get(pk=hit.advisory_id).osv_id for hit in hits.values()] == ["DSA-12"]


def test_an_advisory_with_qualifiers_after_the_release_covers_the_release(manifest):
    curl = package(manifest, "dpkg", "Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.14")
    advisory("USN-1", "Ubuntu:22.04:LTS", "curl", "7.81.0-1ubuntu1.15")

    assert len(match.match([curl])) == 1


def test_rpm_packages_match_by_binary_or_source_name(manifest):
    libs = package(manifest, "rpm", "AlmaLinux:9", "openssl-libs", "1:3.0.7-24.el9", "openssl", "1:3.0.7-24.el9")
    advisory("ALSA-1", "AlmaLinux:9", "openssl-libs", "1:3.0.7-25.el9")
    advisory("ALSA-2", "AlmaLinux:9", "openssl", "1:3.0.7-26.el9")

    assert len(match.match([libs])) == 2


def test_a_package_of_an_unknown_distribution_is_never_matched(manifest):
    odd = package(manifest, "dpkg", "", "openssl", "1.0")
    advisory("DSA-12", "Debian:12", "openssl", "9.9")

    assert match.match([odd]) == {}


def test_five_hundred_packages_are_matched_in_one_query_and_quickly(manifest):
    packages = ImagePackage.objects.bulk_create([
        ImagePackage(manifest=manifest, kind="python", ecosystem="PyPI", base_ecosystem="PyPI", name=f"pkg-{i}",
                     version="1.0", source_name=f"pkg-{i}", source_version="1.0") for i in range(500)])
    advisories = Advisory.objects.bulk_create([
        Advisory(osv_id=f"GHSA-{i}", merge_key=f"CVE-{i}", modified=NOW, severity=i % 6) for i in range(ADVISORIES)])
    AffectedPackage.objects.bulk_create([
        AffectedPackage(advisory=row, ecosystem="PyPI", base_ecosystem="PyPI", name=f"pkg-{i % (ADVISORIES // 2)}",
                        ranges=fixed_below("2.0" if i % 2 else "0.5")) for i, row in enumerate(advisories)])

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        hits = match.match(packages)
        elapsed = time.perf_counter() - started

    assert len(queries) == 1
    assert len(hits) == 500      # pkg-0..499 each named by advisories i and i+N/2: both affect the odd ones
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    print(f"matched 500 packages against {ADVISORIES} advisories in {elapsed * 1000:.0f} ms")
