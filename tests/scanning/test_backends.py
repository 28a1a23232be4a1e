"""The scan backends: the built-in one is what services.scan runs by default; the Clair v4 client is driven
against a loopback stand-in that answers as Clair's indexer and matcher do (Clair is not on the internet),
with a vulnerability report written from Clair v4's API documentation, and its mapping checked row by row."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from scanning import backends, services, tasks
from scanning.clair import ClairBackend
from scanning.models import Advisory, Finding, ImagePackage, ScanStatus, ScanSummary
from scanning.severity import Severity
from tests.factories import make_repository
from tests.scanning import images

pytestmark = pytest.mark.django_db
PSK = base64.b64encode(b"a shared secret of thirty-two by").decode()
BASE, APP = "sha256:" + "b" * 64, "sha256:" + "a" * 64


def report(manifest_hash: str) -> dict[str, Any]:
    """A vulnerability report as Clair v4's matcher gives it (shapes from its openapi.yaml and examples):
    a Debian 12 binary package with its source, a PyPI package, one DSA-named and one OSV-updater record."""
    return {
        "manifest_hash": manifest_hash,
        "packages": {
            "41": {"id": "41", "name": "libssl3", "version": "3.0.11-1~deb12u1", "kind": "binary",
                   "normalized_version": "", "arch": "amd64",
                   "source": {"id": "40", "name": "openssl", "version": "3.0.11-1~deb12u1", "kind": "source"}},
            "77": {"id": "77", "name": "Requests", "version": "2.31.0", "kind": "binary",
                   "normalized_version": "pep440:2.31.0.0.0.0.0.0.0"},
            "90": {"id": "90", "name": "zlib1g", "version": "1:1.2.13.dfsg-1", "kind": "binary",
                   "source": {"id": "89", "name": "zlib", "version": "1:1.2.13.dfsg-1", "kind": "source"}},
        },
        "distributions": {"3": {"id": "3", "did": "debian", "name": "Debian GNU/Linux", "version": "12 (bookworm)",
                                "version_code_name": "bookworm", "version_id": "12", "arch": "", "cpe": "",
                                "pretty_name": "Debian GNU/Linux 12 (bookworm)"}},
        "repository": {"5": {"id": "5", "name": "pypi", "key": "", "uri": "https://pypi.org/simple", "cpe": ""}},
        "environments": {
            "41": [{"package_db": "var/lib/dpkg/status", "introduced_in": BASE, "distribution_id": "3",
                    "repository_ids": None}],
            "77": [{"package_db": "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                    "introduced_in": APP, "distribution_id": "", "repository_ids": ["5"]}],
            "90": [{"package_db": "var/lib/dpkg/status", "introduced_in": BASE, "distribution_id": "3"}],
        },
        "vulnerabilities": {
            "1201": {"id": "1201", "updater": "debian/updater/bookworm", "name": "DSA-5532-1 openssl",
                     "description": "openssl -- security update\nIncorrect cipher key and IV length processing",
                     "issued": "2023-10-24T00:00:00Z",
                     "links": "https://security-tracker.debian.org/tracker/DSA-5532-1 "
                              "https://security-tracker.debian.org/tracker/CVE-2023-5363",
                     "severity": "High", "normalized_severity": "High",
                     "package": {"id": "", "name": "openssl", "kind": "source"},
                     "distribution": {"id": "", "did": "debian", "version_id": "12"},
                     "fixed_in_version": "3.0.11-1~deb12u2"},
            "1202": {"id": "1202", "updater": "debian/updater/bookworm", "name": "CVE-2023-5363",
                     "description": "", "issued": "0001-01-01T00:00:00Z", "links": "", "severity": "Medium",
                     "normalized_severity": "Medium", "package": {"id": "", "name": "openssl"},
                     "fixed_in_version": ""},
            "3304": {"id": "3304", "updater": "osv/pypi", "name": "GHSA-j8r2-6x86-q33q",
                     "description": "Requests `Session` object does not verify requests after making first request "
                                    "with verify=False", "issued": "2024-05-20T20:15:00Z",
                     "links": "https://github.com/advisories/GHSA-j8r2-6x86-q33q",
                     "severity": "CVSS:3.1/AV:H/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N", "normalized_severity": "Medium",
                     "package": {"id": "", "name": "requests", "kind": "binary"},
                     "repository": {"id": "", "name": "pypi", "uri": "https://pypi.org/simple"},
                     "fixed_in_version": "fixed=2.32.0&introduced=0"},
        },
        "package_vulnerabilities": {"41": ["1201", "1202"], "77": ["3304"]},
        "enrichments": {},
    }


class StandIn:
    """Clair's two routes on a loopback port; records what Wharf sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any] | None, str]] = []
        self.index_state = "IndexFinished"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:   # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append(("POST", self.path, body, self.headers.get("Authorization", "")))
                ok = stand_in.index_state == "IndexFinished"
                self.answer(201, {"manifest_hash": body["hash"], "state": stand_in.index_state, "packages": {},
                                  "success": ok, "err": "" if ok else "fetching layer: 403 Forbidden"})

            def do_GET(self) -> None:   # noqa: N802
                stand_in.requests.append(("GET", self.path, None, self.headers.get("Authorization", "")))
                prefix = "/matcher/api/v1/vulnerability_report/"
                if not self.path.startswith(prefix):
                    return self.answer(404, {"code": "not-found", "message": "no such route"})
                return self.answer(201, report(self.path[len(prefix):].replace("%3A", ":")))

            def answer(self, code: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def clair(settings) -> Iterator[StandIn]:  # type: ignore[no-untyped-def]
    stand_in = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), stand_in.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.WHARF_SCAN_BACKEND = "clair"
    settings.WHARF_CLAIR_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.WHARF_CLAIR_PSK = PSK
    yield stand_in
    server.shutdown()
    server.server_close()


@pytest.fixture
def manifest(alice, client):  # type: ignore[no-untyped-def]
    return images.push_image(client, make_repository("alice/app"), [images.debian_base(), images.app_layer()])


def scan(manifest_id: int) -> str | None:
    services.queue(manifest_id)
    return tasks.scan_manifest(manifest_id)


def test_the_builtin_backend_is_the_default_and_gives_the_inventory_for_the_sbom(manifest):
    assert isinstance(backends.configured(), backends.Builtin)

    indexed = backends.configured().index(manifest)

    assert indexed.inventory is not None
    assert {(row.name, row.ecosystem) for row in indexed.packages} >= {("libssl3", "Debian:12"), ("requests", "PyPI")}
    assert all(row.pk is None for row in indexed.packages)     # services saves them, in its transaction


def test_a_clair_scan_indexes_through_clair_and_stores_its_report_as_packages_and_findings(clair, manifest):
    assert scan(manifest.pk) == ScanStatus.DONE

    (post, path, body, auth), (get, report_path, _, _) = clair.requests
    assert (post, path, get) == ("POST", "/indexer/api/v1/index_report", "GET")
    assert report_path == f"/matcher/api/v1/vulnerability_report/{manifest.digest.replace(':', '%3A')}"
    assert body is not None and body["hash"] == manifest.digest
    layer_digests = [layer["digest"] for layer in json.loads(bytes(manifest.content))["layers"]]
    assert [layer["hash"] for layer in body["layers"]] == layer_digests
    assert body["layers"][0]["uri"].endswith(f"/v2/alice/app/blobs/{layer_digests[0]}")
    claims = jwt.decode(auth.removeprefix("Bearer "), base64.b64decode(PSK), algorithms=["HS256"])
    assert claims["iss"] == "wharf"

    packages = {(p.kind, p.ecosystem, p.name, p.version, p.source_name, p.layer_digest, p.path)
                for p in ImagePackage.objects.filter(manifest=manifest)}
    assert packages == {
        ("dpkg", "Debian:12", "libssl3", "3.0.11-1~deb12u1", "openssl", BASE, "var/lib/dpkg/status"),
        ("dpkg", "Debian:12", "zlib1g", "1:1.2.13.dfsg-1", "zlib", BASE, "var/lib/dpkg/status"),
        ("python", "PyPI", "requests", "2.31.0", "requests", APP,
         "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA"),
    }
    findings = {(f.package.name, f.advisory.osv_id, f.merge_key, Severity(f.severity).name, f.fixed_version)
                for f in Finding.objects.filter(manifest=manifest).select_related("package", "advisory")}
    # DSA-5532-1 and CVE-2023-5363 are one vulnerability: one finding, the higher severity, the known fix.
    assert findings == {("libssl3", "DSA-5532-1", "CVE-2023-5363", "HIGH", "3.0.11-1~deb12u2"),
                        ("requests", "GHSA-j8r2-6x86-q33q", "GHSA-j8r2-6x86-q33q", "MEDIUM", "2.32.0")}
    summary = ScanSummary.objects.get(manifest=manifest)
    assert (summary.status, summary.high, summary.medium, summary.fixable) == ("done", 1, 1, 2)
    dsa = Advisory.objects.get(osv_id="DSA-5532-1")
    assert (dsa.summary, dsa.aliases, len(dsa.references)) == ("openssl -- security update", ["CVE-2023-5363"], 2)


def test_an_advisory_the_osv_store_holds_is_used_as_it_is(clair, manifest):
    images.import_fixtures("GHSA-j8r2-6x86-q33q")
    stored = Advisory.objects.get(osv_id="GHSA-j8r2-6x86-q33q")

    scan(manifest.pk)

    finding = Finding.objects.get(manifest=manifest, package__name="requests")
    assert finding.advisory_id == stored.pk
    assert Advisory.objects.get(pk=stored.pk).modified == stored.modified    # untouched


def test_a_clair_that_cannot_index_the_image_fails_the_scan_with_its_reason(clair, manifest):
    clair.index_state = "IndexError"

    assert scan(manifest.pk) == ScanStatus.FAILED

    reason = ScanSummary.objects.get(manifest=manifest).reason
    assert reason == "Clair could not index the image: fetching layer: 403 Forbidden"
    assert not ImagePackage.objects.filter(manifest=manifest).exists()


def test_a_clair_that_does_not_answer_fails_the_scan_and_a_rescan_tries_again(settings, manifest):
    settings.WHARF_SCAN_BACKEND, settings.WHARF_CLAIR_URL = "clair", "http://127.0.0.1:9"   # nothing listens

    assert scan(manifest.pk) == ScanStatus.FAILED
    assert "did not answer" in ScanSummary.objects.get(manifest=manifest).reason
    assert services.request_rescan(manifest.pk) is True


def test_clairs_fixed_version_query_strings_are_read():
    from scanning.clair import _fixed_version

    assert _fixed_version("fixed=2.32.0&introduced=0") == "2.32.0"
    assert _fixed_version("introduced=0") == ""
    assert _fixed_version("1.2-3") == "1.2-3"


def test_the_clair_backend_is_the_one_configured(settings):
    settings.WHARF_SCAN_BACKEND = "clair"

    assert isinstance(backends.configured(), ClairBackend)
    assert backends.matches_locally() is False
