"""An image's inventory as a CycloneDX 1.6 JSON SBOM, and that SBOM pushed next to the image as an OCI 1.1
artifact whose `subject` is the image, so the referrers API (and `oras discover`) finds it.

The document is a function of its inputs alone (components sorted by the library, bom-refs from the PURLs,
the serial number from the image digest, the timestamp given), and the artifact manifest a function of the
document and the image: attaching the same SBOM twice stores the same manifest, one referrer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License
from cyclonedx.output.json import JsonV1Dot6
from django.conf import settings
from packageurl import PackageURL

from registry_api import queries, services, storage
from registry_api.errors import ManifestUnknown
from registry_api.models import Manifest
from registry_api.queries import RepositoryRow
from registry_api.storage.base import blob_key
from scanning.inventory import Inventory
from scanning.packages import Package

MEDIA_TYPE = "application/vnd.cyclonedx+json"
FORMAT = "cyclonedx-1.6"
FILE_NAME = "sbom.cdx.json"
FORMAT_ANNOTATION = "io.wharf.sbom.format"   # marks our SBOMs among an image's referrers
SBOM_READ_LIMIT = 256 << 20   # an SBOM of ours is read whole to be served; a bigger one is no SBOM we made
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
# The stable namespace of our serial numbers: uuid5 of it and the image digest names one image's SBOM.
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://wharf.invalid/sbom")
# Open upload sessions are counted per owner; the SBOM's two small blobs use a name no client can have.
_UPLOAD_OWNER = "wharf:sbom"
# os-release IDs whose PURL namespace differs from the ID (the PURL spec's and Trivy's names).
_RPM_VENDORS = {"rhel": "redhat", "redhat": "redhat", "ol": "oracle", "amzn": "amazon", "opensuse-leap": "opensuse"}


def sbom_document(inventory: Inventory, *, image_digest: str, repository: str, created: datetime,
                  registry_host: str | None = None) -> bytes:
    """The CycloneDX 1.6 JSON SBOM of the image `repository@image_digest` (`registry_host` defaults to this
    site's host, for the image's PURL)."""
    image = _image_component(image_digest, repository, registry_host or urlsplit(settings.WHARF_SITE_URL).netloc)
    timestamp = created if created.tzinfo else created.replace(tzinfo=UTC)
    bom = Bom(serial_number=uuid.uuid5(_SERIAL_NAMESPACE, image_digest),
              metadata=BomMetaData(component=image, timestamp=timestamp.astimezone(UTC)))
    bom.metadata.tools.components.add(Component(name="wharf", type=ComponentType.APPLICATION, bom_ref="wharf"))
    components = list(_components(inventory))
    if system := _operating_system(inventory.os_release):
        components.append(system)
    for component in components:
        bom.components.add(component)
    bom.register_dependency(image, components)
    with warnings.catch_warnings():
        # The library warns about every component without dependencies of its own: we know none.
        warnings.simplefilter("ignore", UserWarning)
        return JsonV1Dot6(bom).output_as_string(indent=None).encode()


def _image_component(digest: str, repository: str, host: str) -> Component:
    purl = PackageURL(type="oci", name=repository.rsplit("/", 1)[-1].lower(), version=digest,
                      qualifiers={"repository_url": f"{host}/{repository}"})
    return Component(name=repository, version=digest, type=ComponentType.CONTAINER, purl=purl,
                     bom_ref=purl.to_string())


def _operating_system(os_release: dict[str, str]) -> Component | None:
    if not os_release.get("ID"):
        return None
    return Component(name=os_release["ID"], version=os_release.get("VERSION_ID") or None,
                     type=ComponentType.OPERATING_SYSTEM, description=os_release.get("PRETTY_NAME") or None,
                     bom_ref=f"os:{os_release['ID']}@{os_release.get('VERSION_ID', '')}")


def _components(inventory: Inventory) -> Iterator[Component]:
    seen: set[str] = set()
    for package in sorted(inventory.packages, key=lambda p: (p.kind, p.name, p.version, p.path, p.arch)):
        purl = package_url(package, inventory.os_release)
        ref = purl.to_string()
        if ref in seen:   # the same package in two databases (dpkg's status and status.d): one ref each
            ref = f"{ref}#{package.path}"
        seen.add(ref)
        group, name = _group_and_name(package)
        yield Component(name=name, group=group, version=package.version, type=ComponentType.LIBRARY, purl=purl,
                        bom_ref=ref, licenses=_licenses(package.licenses), properties=_properties(package))


def package_url(package: Package, os_release: dict[str, str]) -> PackageURL:
    """The PURL of one package, as scanners write it (distro qualifiers like Trivy's; rpm's epoch apart)."""
    distro_id, version_id = os_release.get("ID", "").lower(), os_release.get("VERSION_ID", "")
    arch = {"arch": package.arch} if package.arch else {}
    if package.kind == "dpkg":
        distro = {"distro": f"{distro_id}-{version_id}"} if distro_id and version_id else {}
        return PackageURL(type="deb", namespace=distro_id or "debian", name=package.name, version=package.version,
                          qualifiers={**arch, **distro})
    if package.kind == "apk":
        distro = {"distro": version_id} if version_id else {}
        return PackageURL(type="apk", namespace=distro_id or "alpine", name=package.name, version=package.version,
                          qualifiers={**arch, **distro})
    if package.kind == "rpm":
        epoch, _, version = package.version.rpartition(":")
        qualifiers = {**arch, **({"epoch": epoch} if epoch else {}),
                      **({"distro": f"{distro_id}-{version_id}"} if distro_id and version_id else {})}
        return PackageURL(type="rpm", namespace=_RPM_VENDORS.get(distro_id, distro_id) or None, name=package.name,
                          version=version, qualifiers=qualifiers)
    if package.kind == "python":
        # PyPI names are case-insensitive and "_", "." and "-" are one character (PEP 503, the PURL spec).
        name = "-".join(package.name.lower().replace("_", "-").replace(".", "-").split("-"))
        return PackageURL(type="pypi", name=name, version=package.version)
    group, name = _group_and_name(package)
    return PackageURL(type=package.kind, namespace=group, name=name, version=package.version)


def _group_and_name(package: Package) -> tuple[str | None, str]:
    if package.kind == "npm" and package.name.startswith("@") and "/" in package.name:
        scope, name = package.name.split("/", 1)
        return scope, name
    return None, package.name


def _licenses(names: tuple[str, ...]) -> list[License]:
    """One license: an SPDX id, an expression or a name, as the text reads. Several: each an id or a name
    (CycloneDX lets an expression stand only alone)."""
    factory = LicenseFactory()
    if len(names) == 1:
        return [factory.make_from_string(names[0])]
    return [_disjunctive(factory, name) for name in sorted(set(names))]


def _disjunctive(factory: LicenseFactory, name: str) -> DisjunctiveLicense:
    license_ = factory.make_from_string(name)
    return license_ if isinstance(license_, DisjunctiveLicense) else factory.make_with_name(name)


def _properties(package: Package) -> list[Property]:
    values = {"wharf:package-type": package.kind, "wharf:layer": package.layer, "wharf:package-db": package.path}
    if package.source_name and (package.source_name, package.source_version) != (package.name, package.version):
        values["wharf:source-name"] = package.source_name
        values["wharf:source-version"] = package.source_version
    return [Property(name=name, value=value) for name, value in values.items() if value]


def attach_sbom(repository: RepositoryRow, *, image_digest: str, image_media_type: str, image_size: int,
                document: bytes) -> str:
    """Store `document` in the repository as an OCI artifact whose subject is the image; returns the artifact
    manifest's digest. It goes in by digest (no tag) through the registry's services, so the referrers API
    lists it and garbage collection keeps it as long as the image lives. An earlier SBOM of ours for the image
    (a scan before this one) is deleted once this one is in: one current SBOM per image. SBOMs that others
    pushed stay."""
    sbom = _store_blob(repository, document)
    config = _store_blob(repository, EMPTY_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": {**config, "mediaType": OCI_EMPTY},
        # The title is the file name `oras pull` saves the layer as.
        "layers": [{**sbom, "mediaType": MEDIA_TYPE, "annotations": {"org.opencontainers.image.title": FILE_NAME}}],
        "subject": {"mediaType": image_media_type, "digest": image_digest, "size": image_size},
        "annotations": {"org.opencontainers.image.created": _created(document), FORMAT_ANNOTATION: FORMAT},
    }
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    digest = services.put_manifest(repository, _sha256(body), body, OCI_MANIFEST).digest
    for earlier in services.referrers(repository, image_digest, MEDIA_TYPE):
        if earlier["digest"] != digest and FORMAT_ANNOTATION in earlier.get("annotations", {}):
            with contextlib.suppress(ManifestUnknown):   # a concurrent attach deleted it first
                services.delete_manifest(repository, earlier["digest"])
    return digest


def _created(document: bytes) -> str:
    """The document's own timestamp: the manifest then depends on the document alone, not on the clock."""
    return str(json.loads(document).get("metadata", {}).get("timestamp", ""))


def _store_blob(repository: RepositoryRow, data: bytes) -> dict[str, Any]:
    digest = _sha256(data)
    if queries.linked_blob(repository, digest) is None:
        services.upload_blob(repository, digest, _Body(data), _UPLOAD_OWNER)  # type: ignore[arg-type]
    return {"digest": digest, "size": len(data)}


class _Body:
    """Bytes in memory in the shape upload_blob reads of a request body (`expected`, `chunks`, `abandon`)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.expected = data, len(data)

    def chunks(self) -> Iterator[bytes]:
        yield self.data

    def abandon(self) -> None:
        pass


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def current_sbom(image: Manifest) -> bytes | None:
    """The document of the image's current Wharf SBOM (the newest referrer we attached), None when it has none."""
    candidates = Manifest.objects.filter(repository_id=image.repository_id, subject_digest=image.digest,
                                         artifact_type=MEDIA_TYPE).order_by("-created_at", "-id")
    for candidate in candidates.only("content", "annotations"):
        if FORMAT_ANNOTATION not in (candidate.annotations or {}):
            continue
        layers = json.loads(bytes(candidate.content)).get("layers") or []
        if layers and isinstance(layers[0], dict):
            with contextlib.suppress(FileNotFoundError), \
                    storage.backend().open(blob_key(str(layers[0].get("digest", "")))) as stream:
                return stream.read(SBOM_READ_LIMIT)
    return None
