"""A Clair v4 server as the scan backend (WHARF_SCAN_BACKEND = "clair").

Clair fetches the layers itself: we POST the manifest (its digest and each layer's URI) to the indexer,
which answers once the image is indexed, then GET the matcher's vulnerability report for that digest and map
it onto our rows: Clair's packages become ImagePackage rows (with the layer each came in and the package
database it was read from), its vulnerabilities Advisory rows (an advisory the OSV store holds under the same
id is used as it is), and each package's vulnerabilities its findings, merged per CVE as ours are.

Requests are signed as Clair's PSK auth expects: an HS256 JWT, key = the base64-decoded WHARF_CLAIR_PSK,
issuer "wharf" (list it in Clair's auth.psk.iss). No PSK, no Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote

import jwt
import requests
from django.conf import settings

from registry_api import storage
from registry_api.models import Manifest
from registry_api.storage.base import blob_key
from scanning import index
from scanning.backends import Indexed, ScanFailed
from scanning.index import LayerRef
from scanning.match import Hit
from scanning.models import Advisory, ImagePackage
from scanning.osv import parse_timestamp
from scanning.packages import canonical_python_name
from scanning.severity import Severity
from scanning.versions import base_ecosystem, ecosystem_for

ISSUER = "wharf"
TIMEOUT = 300.0      # seconds; the indexer answers once it has fetched and read every layer
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
# Clair's language repositories (Repository.name) → our kind and OSV ecosystem.
LANGUAGES = {"pypi": ("python", "PyPI"), "npm": ("npm", "npm"), "maven": ("maven", "Maven"),
             "rubygems": ("gem", "RubyGems"), "go": ("go", "Go")}
# Package databases Clair names (Environment.package_db) → our kind, for OS packages.
OS_KINDS = (("dpkg", "dpkg"), ("apk", "apk"), ("rpm", "rpm"))


class ClairBackend:
    def __init__(self, url: str, psk: str = "") -> None:
        self.url, self.psk = url.rstrip("/"), psk

    def index(self, manifest: Manifest) -> Indexed:
        """Have Clair index the image, then map its vulnerability report."""
        layers = [self.layer(manifest, ref) for ref in index.image_layers(manifest)]   # Unsupported for no image
        indexed = self._call("POST", "/indexer/api/v1/index_report", {"hash": manifest.digest, "layers": layers})
        if indexed.get("state") == "IndexError" or indexed.get("success") is False:
            raise ScanFailed(f"Clair could not index the image: {indexed.get('err') or indexed.get('state')}")
        report = self._call("GET", f"/matcher/api/v1/vulnerability_report/{quote(manifest.digest)}")
        return mapped(manifest.pk, report)

    def layer(self, manifest: Manifest, ref: LayerRef) -> dict[str, Any]:
        """Where Clair fetches a layer: the object store's presigned URL when there is one, else the
        registry's own blob URL (Clair follows its redirect)."""
        presigned = storage.backend().redirect_url(blob_key(ref.digest))
        uri = presigned or f"{settings.WHARF_SITE_URL}/v2/{manifest.repository.full_name}/blobs/{ref.digest}"
        return {"hash": ref.digest, "uri": uri, "headers": {}}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = requests.request(method, self.url + path, json=body, headers=self._auth(), timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ScanFailed(f"Clair at {self.url} did not answer: {exc}") from exc
        if response.status_code not in (200, 201):
            raise ScanFailed(f"Clair answered {method} {path} with HTTP {response.status_code}: "
                             f"{response.text[:300]}")
        try:
            data = response.json()
        except ValueError as exc:
            raise ScanFailed(f"Clair's answer to {method} {path} is not JSON") from exc
        if not isinstance(data, dict):
            raise ScanFailed(f"Clair's answer to {method} {path} is not a JSON object")
        return data

    def _auth(self) -> dict[str, str]:
        if not self.psk:
            return {}
        try:
            key = base64.b64decode(self.psk, validate=True)
        except binascii.Error as exc:
            raise ScanFailed("WHARF_CLAIR_PSK is not base64") from exc
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "iat": now, "nbf": now - 5, "exp": now + 300}, key, algorithm="HS256")
        return {"Authorization": f"Bearer {token}"}


# --- The report, mapped ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Vulnerability:
    name: str
    merge_key: str
    severity: Severity
    fixed_version: str
    raw: dict[str, Any]


def mapped(manifest_id: int, report: dict[str, Any]) -> Indexed:
    """A vulnerability report as unsaved package rows and a matcher that gives each its findings."""
    packages = _dict(report.get("packages"))
    environments = _dict(report.get("environments"))
    vulnerabilities = _dict(report.get("vulnerabilities"))
    by_package = _dict(report.get("package_vulnerabilities"))
    rows: list[ImagePackage] = []
    found: list[list[_Vulnerability]] = []
    for package_id, package in sorted(packages.items(), key=lambda item: str(item[0])):
        if not isinstance(package, dict):
            continue
        for environment in _list(environments.get(package_id)) or [{}]:
            rows.append(_row(manifest_id, package, _dict(environment), report))
            found.append([_vulnerability(_dict(vulnerabilities.get(str(vid))))
                          for vid in _list(by_package.get(package_id)) if str(vid) in vulnerabilities])

    def match(saved: Sequence[ImagePackage]) -> dict[tuple[int, str], Hit]:
        hits: dict[tuple[int, str], Hit] = {}
        for package, vulns in zip(saved, found, strict=True):
            for vuln in vulns:
                key = (package.pk, vuln.merge_key)
                old = hits.get(key)
                if old is None or vuln.severity > old.severity:
                    hits[key] = Hit(_advisory_id(vuln), vuln.severity,
                                    vuln.fixed_version or (old.fixed_version if old else ""))
        return hits

    return Indexed(rows, match)


def _row(manifest_id: int, package: dict[str, Any], environment: dict[str, Any],
         report: dict[str, Any]) -> ImagePackage:
    source = _dict(package.get("source"))
    kind, ecosystem = _kind_and_ecosystem(environment, report)
    name = str(package.get("name", ""))
    if ecosystem == "PyPI":
        name = canonical_python_name(name)
    version = str(package.get("version", ""))
    return ImagePackage(
        manifest_id=manifest_id, kind=kind, ecosystem=ecosystem,
        base_ecosystem=base_ecosystem(ecosystem) if ecosystem else "", name=name[:255], version=version[:255],
        source_name=str(source.get("name") or name)[:255], source_version=str(source.get("version") or version)[:255],
        layer_digest=str(environment.get("introduced_in", ""))[:200],
        path=str(environment.get("package_db", ""))[:1024])


def _kind_and_ecosystem(environment: dict[str, Any], report: dict[str, Any]) -> tuple[str, str]:
    repositories = _dict(report.get("repository"))
    for repository_id in _list(environment.get("repository_ids")):
        language = LANGUAGES.get(str(_dict(repositories.get(str(repository_id))).get("name", "")).lower())
        if language:
            return language
    database = str(environment.get("package_db", ""))
    kind = next((kind for marker, kind in OS_KINDS if marker in database), "os")
    distribution = _dict(_dict(report.get("distributions")).get(str(environment.get("distribution_id", ""))))
    ecosystem = ecosystem_for(str(distribution.get("did", "")), str(distribution.get("version_id", ""))) or ""
    return kind, ecosystem


def _vulnerability(raw: dict[str, Any]) -> _Vulnerability:
    name = str(raw.get("name", "")).split(" ")[0] or f"clair-{raw.get('id')}"
    cve = _CVE.search(name) or _CVE.search(str(raw.get("links", "")))
    severity = Severity.parse(raw.get("normalized_severity") or raw.get("severity"))
    return _Vulnerability(name[:255], (cve.group(0) if cve else name)[:255], severity,
                          _fixed_version(str(raw.get("fixed_in_version") or "")), raw)


def _fixed_version(value: str) -> str:
    """Clair's OS updaters give a version; its OSV-based ones a query string ("fixed=2.32.0&introduced=0")."""
    if "=" in value:
        return parse_qs(value).get("fixed", [""])[0]
    return value


def _advisory_id(vuln: _Vulnerability) -> int:
    """The advisory row of a Clair vulnerability: the OSV store's when it holds one of that id, else one made
    from Clair's data (an import of that id later replaces it with the OSV record)."""
    raw = vuln.raw
    issued = _timestamp(raw.get("issued"))
    description = str(raw.get("description", ""))
    advisory, _ = Advisory.objects.get_or_create(osv_id=vuln.name, defaults={
        # The oldest `modified` there is: an OSV record of the same id, imported later, always replaces it.
        "merge_key": vuln.merge_key, "modified": _EPOCH, "published": issued,
        "summary": description.split("\n")[0][:500], "details": description[:10_000],
        "severity": int(vuln.severity), "references": str(raw.get("links", "")).split()[:10],
        "aliases": [vuln.merge_key] if vuln.merge_key != vuln.name else []})
    return advisory.pk


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
