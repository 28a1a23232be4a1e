"""End to end with real tools: podman builds images FROM scratch whose contexts hold real package databases
(a Debian 12 dpkg status, an Alpine apk database, an rpmdb.sqlite made by rpm itself, a requests dist-info, a
lodash package.json), pushes them to the live server, and a real Celery worker on the `scans` queue scans
them with the fixture advisories (tests/scanning/osv/) in the store. Hostile layers, pushed as raw blobs and
a manifest through /v2/, end failed with their reason while the worker stays up for the next scan.

The worker reads the live server's storage and broker (its DATA_DIR), as a scans worker of a deployment
shares them with the web nodes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from registry_api.models import Manifest
from scanning.models import ImagePackage, ScanSummary
from tests.clients import conftest as client_fixtures
from tests.clients.conftest import CREDS, Clients
from tests.conftest import ARTIFACTS, ROOT, LiveServer, database_url, require_tool
from tests.factories import PASSWORD
from tests.scanning import builders, images

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]
# The client tests' fixtures (their conftest is not this directory's): isolated podman/skopeo, the live server.
clients, registry = client_fixtures.clients, client_fixtures.registry

MiB = 1 << 20
LAYER_LIMIT = 64 * MiB     # the worker's WHARF_SCAN_MAX_LAYER_SIZE: the bomb passes it within a second
ROCKY_OS_RELEASE = b'''NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
'''
# Alpine 3.18 before its openssl fix: both packages built from the openssl origin are affected.
ALPINE_INSTALLED = builders.APK_INSTALLED.replace(b"V:3.1.4-r0", b"V:3.1.3-r0")


@pytest.fixture
def scans_worker(registry: LiveServer) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on `scans` that shares the live server's database, storage and broker."""
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "portal.settings",
           "DATA_DIR": str(registry.data_dir), "WHARF_STORAGE_PATH": str(registry.data_dir / "storage"),
           "WHARF_SCAN_MAX_LAYER_SIZE": str(LAYER_LIMIT)}
    env.pop("WHARF_STORAGE_BACKEND", None)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "celery-real-images-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "scans", "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"scans-{os.getpid()}-{time.monotonic_ns()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield worker
    worker.terminate()
    worker.wait(timeout=30)
    log.close()


def build_and_push(clients: Clients, registry: LiveServer, context: Path, name: str,
                   files: dict[str, bytes], steps: list[str]) -> str:
    """podman build FROM scratch (one layer per COPY step), push to alice/<name>:1; returns the digest."""
    for path, data in files.items():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_bytes(data)
    (context / "Containerfile").write_text("\n".join(["FROM scratch", *steps]) + "\n")
    local, remote = f"localhost/{name}:1", f"{registry.host}/alice/{name}:1"
    clients.podman("build", "--quiet", "--tag", local, "--file", str(context / "Containerfile"), str(context))
    clients.podman("tag", local, remote)
    digest_file = context.parent / f"{name}.digest"
    clients.podman("push", "--tls-verify=false", "--creds", CREDS, "--digestfile", str(digest_file), remote)
    return digest_file.read_text().strip()


def scanned(digest: str, worker: subprocess.Popen[bytes], seconds: float = 120) -> ScanSummary:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker died; see test-artifacts/celery-real-images-worker.log"
        summary = ScanSummary.objects.filter(manifest__digest=digest).first()
        if summary is not None and summary.status not in ("queued", "scanning"):
            return summary
        time.sleep(0.3)
    raise AssertionError(f"{digest} was not scanned in {seconds} s: {summary and summary.status}")


def findings(digest: str) -> set[tuple[str, str, str, str, str]]:
    manifest = Manifest.objects.get(digest=digest)
    return {(f.package.name, f.package.version, f.merge_key, f.advisory.osv_id, f.fixed_version)
            for f in manifest.scan_findings.select_related("package", "advisory")}


def counts(summary: ScanSummary) -> dict[str, int]:
    fields = ("critical", "high", "medium", "low", "negligible", "unknown", "fixable")
    return {field: getattr(summary, field) for field in fields if getattr(summary, field)}


def test_images_built_and_pushed_by_podman_are_scanned_by_a_real_worker_with_their_exact_findings(
        clients: Clients, registry: LiveServer, scans_worker: subprocess.Popen[bytes], tmp_path: Path) -> None:
    require_tool("podman", "rpm", "rpmbuild")
    images.import_fixtures()

    debian = build_and_push(clients, registry, tmp_path / "debian", "debian-app", {
        "base/etc/os-release": builders.DEBIAN_OS_RELEASE,
        "base/var/lib/dpkg/status": builders.DPKG_STATUS,
        f"app/{images.REQUESTS_DIST}/METADATA": builders.REQUESTS_METADATA,
        "app/app/node_modules/lodash/package.json": builders.LODASH_PACKAGE,
    }, ["COPY base/ /", "COPY app/ /"])
    alpine = build_and_push(clients, registry, tmp_path / "alpine", "alpine-app", {
        "rootfs/etc/os-release": builders.ALPINE_OS_RELEASE,
        "rootfs/lib/apk/db/installed": ALPINE_INSTALLED,
    }, ["COPY rootfs/ /"])
    rocky = build_and_push(clients, registry, tmp_path / "rocky", "rocky-app", {
        "rootfs/etc/os-release": ROCKY_OS_RELEASE,
        "rootfs/var/lib/rpm/rpmdb.sqlite": builders.rpm_database(tmp_path / "rpm"),
    }, ["COPY rootfs/ /"])

    summary = scanned(debian, scans_worker)
    assert (summary.status, counts(summary)) == ("done", {"high": 1, "medium": 1, "unknown": 1, "fixable": 3})
    assert findings(debian) == {
        ("libssl3", "3.0.11-1~deb12u1", "CVE-2023-5363", "DSA-5532-1", "3.0.11-1~deb12u2"),
        ("requests", "2.31.0", "CVE-2024-35195", "GHSA-j8r2-6x86-q33q", "2.32.0"),
        ("lodash", "4.17.15", "CVE-2020-8203", "GHSA-p6mc-m468-83gw", "4.17.19"),
    }

    summary = scanned(alpine, scans_worker)
    assert (summary.status, counts(summary)) == ("done", {"unknown": 2, "fixable": 2})
    assert findings(alpine) == {
        ("libssl3", "3.1.3-r0", "CVE-2023-5363", "ALPINE-CVE-2023-5363", "3.1.4-r0"),
        ("openssl", "3.1.3-r0", "CVE-2023-5363", "ALPINE-CVE-2023-5363", "3.1.4-r0"),
    }

    summary = scanned(rocky, scans_worker)
    assert (summary.status, counts(summary)) == ("done", {})     # no Rocky Linux advisory in the store
    assert set(ImagePackage.objects.filter(manifest__digest=rocky).values_list(
        "kind", "ecosystem", "name", "version", "source_name")) == {
        ("rpm", "Rocky Linux:9", "openssl-libs", "1:3.0.7-24.el9", "openssl"),
        ("rpm", "Rocky Linux:9", "bash", "5.1.8-6.el9", "bash"),
    }


# --- hostile layers, pushed raw through /v2/ ---------------------------------------------------------------

def bearer(registry: LiveServer, repository: str) -> dict[str, str]:
    response = requests.get(f"{registry.url}/v2/auth", auth=("alice", PASSWORD), timeout=30,
                            params={"service": "wharf", "scope": f"repository:{repository}:pull,push"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_raw(registry: LiveServer, repository: str, tag: str, layer: bytes) -> str:
    """A config and one gzip layer of exactly these bytes, and their manifest; returns the manifest digest."""
    auth = bearer(registry, repository)
    config = images.config()
    for blob in (config, layer):
        response = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/?digest={sha256(blob)}",
                                 data=blob, timeout=120,
                                 headers={**auth, "Content-Type": "application/octet-stream"})
        assert response.status_code == 201, response.text
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": images.GZIP_LAYER, "digest": sha256(layer), "size": len(layer)}],
    }).encode()
    response = requests.put(f"{registry.url}/v2/{repository}/manifests/{tag}", data=manifest, timeout=60,
                            headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 201, response.text
    return sha256(manifest)


def test_hostile_layers_fail_their_scans_with_a_reason_and_the_worker_scans_the_next_image(
        clients: Clients, registry: LiveServer, scans_worker: subprocess.Popen[bytes], tmp_path: Path) -> None:
    require_tool("podman")
    images.import_fixtures()
    whole = gzip.compress(builders.tar_bytes([("etc/os-release", builders.DEBIAN_OS_RELEASE),
                                              ("var/lib/dpkg/status", builders.DPKG_STATUS),
                                              ("usr/share/doc/filler", os.urandom(256 * 1024))]))

    truncated = push_raw(registry, "alice/hostile", "truncated", whole[:len(whole) // 2])
    bomb = push_raw(registry, "alice/hostile", "bomb", builders.gzip_bomb(1))

    summary = scanned(truncated, scans_worker)
    assert (summary.status, summary.total) == ("failed", 0)
    assert "truncated" in summary.reason, summary.reason
    summary = scanned(bomb, scans_worker)
    assert (summary.status, summary.total) == ("failed", 0)
    assert f"uncompressed layer over the {LAYER_LIMIT} byte limit" in summary.reason, summary.reason

    after = build_and_push(clients, registry, tmp_path / "after", "after-hostile", {
        "rootfs/etc/os-release": builders.ALPINE_OS_RELEASE,
        "rootfs/lib/apk/db/installed": ALPINE_INSTALLED,
    }, ["COPY rootfs/ /"])
    summary = scanned(after, scans_worker)
    assert (summary.status, counts(summary)) == ("done", {"unknown": 2, "fixable": 2})
    assert scans_worker.poll() is None
