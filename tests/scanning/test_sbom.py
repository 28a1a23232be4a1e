"""The SBOM: a CycloneDX 1.6 document of an image's inventory, attached to the image as an OCI referrer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import oras.client
import pytest
import requests
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from registry_api import services, storage
from registry_api.models import Manifest
from registry_api.queries import RepositoryRow
from scanning.inventory import Inventory
from scanning.packages import Package
from scanning.sbom import EMPTY_CONFIG, MEDIA_TYPE, attach_sbom, sbom_document
from tests.conftest import LiveServer
from tests.factories import PASSWORD, sha256
from tests.registry_api.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    artifact,
    auth,
    descriptor,
    oci_image,
    push_manifest,
)

NAME = "alice/app"
CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
BASE, APP = "sha256:" + "11" * 32, "sha256:" + "22" * 32
DEBIAN = {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}
ALPINE = {"ID": "alpine", "VERSION_ID": "3.18.4"}
RHEL = {"ID": "rhel", "VERSION_ID": "9.3"}


def debian_inventory() -> Inventory:
    """Debian 12 with a dpkg package built from another source, a Python and a scoped npm package."""
    return Inventory(DEBIAN, [
        Package("dpkg", "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2", "var/lib/dpkg/status",
                "amd64", layer=BASE),
        Package("dpkg", "base-files", "12.4+deb12u4", path="var/lib/dpkg/status", arch="amd64", layer=BASE),
        Package("python", "Flask_Login", "0.6.3", licenses=("MIT",), layer=APP,
                path="usr/lib/python3/dist-packages/Flask_Login-0.6.3.dist-info/METADATA"),
        Package("npm", "@babel/core", "7.23.2", path="app/node_modules/@babel/core/package.json",
                licenses=("MIT",), layer=APP),
        Package("npm", "lodash", "4.17.15", path="app/node_modules/lodash/package.json",
                licenses=("MIT OR Apache-2.0",), layer=APP),
    ])


def document(inventory: Inventory | None = None, digest: str = DIGEST) -> dict[str, Any]:
    return json.loads(sbom_document(inventory or debian_inventory(), image_digest=digest, repository=NAME,
                                    created=CREATED, registry_host="registry.example.com"))


def purls(data: dict[str, Any]) -> set[str]:
    return {component["purl"] for component in data["components"] if "purl" in component}


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {component["name"]: component for component in data["components"]}


def properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


# --- the document ---------------------------------------------------------------------------------------------------

def test_the_document_is_valid_cyclonedx_1_6() -> None:
    body = sbom_document(debian_inventory(), image_digest=DIGEST, repository=NAME, created=CREATED)

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(body.decode()) is None
    data = json.loads(body)
    assert (data["bomFormat"], data["specVersion"], data["version"]) == ("CycloneDX", "1.6", 1)


def test_the_image_is_the_documents_subject_with_an_oci_purl() -> None:
    image = document()["metadata"]["component"]

    assert image["type"] == "container"
    assert (image["name"], image["version"]) == (NAME, DIGEST)
    assert image["purl"] == f"pkg:oci/app@{DIGEST}?repository_url=registry.example.com/alice/app"


def test_packages_of_debian_python_and_npm_get_their_purls() -> None:
    assert purls(document()) == {
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
        "pkg:deb/debian/base-files@12.4%2Bdeb12u4?arch=amd64&distro=debian-12",
        "pkg:pypi/flask-login@0.6.3",
        "pkg:npm/%40babel/core@7.23.2",
        "pkg:npm/lodash@4.17.15",
    }


def test_alpine_packages_get_apk_purls_with_the_release() -> None:
    inventory = Inventory(ALPINE, [Package("apk", "musl", "1.2.4-r2", "musl", path="lib/apk/db/installed",
                                           arch="x86_64", licenses=("MIT",), layer=BASE)])

    assert purls(document(inventory)) == {"pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4"}


def test_rpm_packages_get_the_vendor_and_their_epoch_as_a_qualifier() -> None:
    inventory = Inventory(RHEL, [
        Package("rpm", "openssl-libs", "1:3.0.7-24.el9", "openssl", path="var/lib/rpm/rpmdb.sqlite", arch="x86_64"),
        Package("rpm", "bash", "5.1.8-6.el9", path="var/lib/rpm/rpmdb.sqlite", arch="x86_64"),
    ])

    assert purls(document(inventory)) == {
        "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1",
        "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3",
    }


def test_the_operating_system_is_a_component() -> None:
    system = by_name(document())["debian"]

    assert (system["type"], system["version"], system["description"]) == (
        "operating-system", "12", "Debian GNU/Linux 12 (bookworm)")


def test_components_carry_licenses_the_layer_the_database_and_the_source_package() -> None:
    components = by_name(document())

    assert components["core"]["group"] == "@babel"
    assert components["core"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert components["lodash"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert "licenses" not in components["libssl3"]
    assert properties(components["libssl3"]) == {
        "wharf:package-type": "dpkg", "wharf:layer": BASE, "wharf:package-db": "var/lib/dpkg/status",
        "wharf:source-name": "openssl", "wharf:source-version": "3.0.11-1~deb12u2",
    }
    assert properties(components["core"])["wharf:layer"] == APP


def test_the_same_package_in_two_databases_is_two_valid_components() -> None:
    twice = [Package("dpkg", "zlib1g", "1:1.2.13", path=path, arch="amd64")
             for path in ("var/lib/dpkg/status", "var/lib/dpkg/status.d/zlib1g")]
    body = sbom_document(Inventory(DEBIAN, twice), image_digest=DIGEST, repository=NAME, created=CREATED)

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(body.decode()) is None
    assert len([c for c in json.loads(body)["components"] if c["name"] == "zlib1g"]) == 2


def test_the_document_is_the_same_for_the_same_input_whatever_the_package_order() -> None:
    inventory = debian_inventory()
    shuffled = Inventory(DEBIAN, list(reversed(inventory.packages)))

    first = sbom_document(inventory, image_digest=DIGEST, repository=NAME, created=CREATED)

    assert sbom_document(shuffled, image_digest=DIGEST, repository=NAME, created=CREATED) == first
    data = json.loads(first)
    assert data["metadata"]["timestamp"] == "2024-05-01T12:30:00+00:00"
    assert data["serialNumber"] == document()["serialNumber"]
    assert data["serialNumber"] != document(digest="sha256:" + "cd" * 32)["serialNumber"]


def test_an_image_without_packages_still_has_a_valid_document() -> None:
    body = sbom_document(Inventory(), image_digest=DIGEST, repository=NAME, created=CREATED)

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(body.decode()) is None
    assert json.loads(body).get("components", []) == []


# --- the referrer ---------------------------------------------------------------------------------------------------

def pushed_image(client: Any) -> tuple[RepositoryRow, bytes]:
    body = oci_image(client, NAME)
    push_manifest(client, NAME, "v1", body, OCI_MANIFEST)
    repository = services.get_repository(NAME)
    assert repository is not None
    return repository, body


def attach(repository: RepositoryRow, image: bytes, sbom: bytes) -> str:
    return attach_sbom(repository, image_digest=sha256(image), image_media_type=OCI_MANIFEST, image_size=len(image),
                       document=sbom)


def referrers(client: Any, digest: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/v2/{NAME}/referrers/{digest}{query}", HTTP_AUTHORIZATION=auth(NAME, "pull"))
    assert response.status_code == 200, response.content
    assert response.json()["mediaType"] == OCI_INDEX
    manifests: list[dict[str, Any]] = response.json()["manifests"]
    return manifests


@pytest.mark.django_db
def test_an_attached_sbom_is_a_referrer_of_the_image_and_its_layer_is_the_document(client, alice) -> None:
    repository, image = pushed_image(client)
    sbom = sbom_document(debian_inventory(), image_digest=sha256(image), repository=NAME, created=CREATED)

    digest = attach(repository, image, sbom)

    assert referrers(client, sha256(image), f"?artifactType={quote(MEDIA_TYPE)}") == [{
        "mediaType": OCI_MANIFEST, "digest": digest, "size": Manifest.objects.get(digest=digest).size,
        "artifactType": MEDIA_TYPE,
        "annotations": {"org.opencontainers.image.created": "2024-05-01T12:30:00+00:00",
                        "io.wharf.sbom.format": "cyclonedx-1.6"},
    }]
    manifest = client.get(f"/v2/{NAME}/manifests/{digest}", HTTP_AUTHORIZATION=auth(NAME, "pull"),
                          HTTP_ACCEPT=OCI_MANIFEST).json()
    assert manifest["subject"] == {"mediaType": OCI_MANIFEST, "digest": sha256(image), "size": len(image)}
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                  "size": 2}
    assert sha256(EMPTY_CONFIG) == manifest["config"]["digest"]
    [layer] = manifest["layers"]
    assert (layer["mediaType"], layer["digest"], layer["size"]) == (MEDIA_TYPE, sha256(sbom), len(sbom))
    blob = client.get(f"/v2/{NAME}/blobs/{layer['digest']}", HTTP_AUTHORIZATION=auth(NAME, "pull"))
    assert blob.status_code == 200
    assert b"".join(blob.streaming_content) == sbom


@pytest.mark.django_db
def test_attaching_the_same_sbom_twice_leaves_one_referrer(client, alice) -> None:
    repository, image = pushed_image(client)
    sbom = sbom_document(debian_inventory(), image_digest=sha256(image), repository=NAME, created=CREATED)

    first, second = attach(repository, image, sbom), attach(repository, image, sbom)

    assert first == second
    assert [d["digest"] for d in referrers(client, sha256(image))] == [first]
    assert not Manifest.objects.filter(digest=first).exclude(tags=None).exists()   # by digest, never tagged


@pytest.mark.django_db
def test_a_new_sbom_of_the_image_replaces_ours_but_not_one_somebody_else_pushed(client, alice) -> None:
    repository, image = pushed_image(client)
    subject = descriptor(OCI_MANIFEST, image)
    theirs = artifact(client, NAME, MEDIA_TYPE, subject=subject, payload=b'{"bomFormat": "CycloneDX"}')
    theirs_digest = push_manifest(client, NAME, sha256(theirs), theirs, OCI_MANIFEST)
    old = attach(repository, image, sbom_document(Inventory(), image_digest=sha256(image), repository=NAME,
                                                  created=CREATED))

    new = attach(repository, image, sbom_document(debian_inventory(), image_digest=sha256(image), repository=NAME,
                                                  created=datetime(2024, 6, 1, tzinfo=UTC)))

    assert new != old
    assert {d["digest"] for d in referrers(client, sha256(image))} == {new, theirs_digest}
    assert not Manifest.objects.filter(digest=old).exists()


# --- a real client --------------------------------------------------------------------------------------------------

def registry_token(server: LiveServer, scope: str) -> str:
    response = requests.get(f"{server.url}/v2/auth", params={"service": "wharf", "scope": scope},
                            auth=("alice", PASSWORD), timeout=10)
    assert response.status_code == 200, response.text
    value: str = response.json()["token"]
    return value


@pytest.mark.clients
@pytest.mark.django_db(transaction=True)
def test_oras_finds_the_sbom_through_the_referrers_api_and_pulls_it(
    live_server_wharf: LiveServer, registry_user: object, settings: Any, tmp_path: Path,
) -> None:
    server = live_server_wharf
    oras_alice = oras.client.OrasClient(hostname=server.host, insecure=True)
    # A token that already holds pull,push: oras-py never asks for more scope (see tests/clients/test_oras.py).
    oras_alice.auth.set_token_auth(registry_token(server, f"repository:{NAME}:pull,push"))
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "amd64", "os": "linux",
                                                      "rootfs": {"type": "layers", "diff_ids": []}}))
    (tmp_path / "layer.tar").write_bytes(b"\0" * 1024)
    pushed = oras_alice.push(f"{server.host}/{NAME}:1",
                             files=[f"{tmp_path}/layer.tar:application/vnd.oci.image.layer.v1.tar"],
                             manifest_config=f"{tmp_path}/config.json:application/vnd.oci.image.config.v1+json",
                             disable_path_validation=True, quiet=True)
    assert pushed.status_code == 201, pushed.text
    repository = services.get_repository(NAME)
    assert repository is not None
    image = services.get_manifest(repository, "1")
    # The scan runs where the server keeps its blobs: point this process at the live server's storage.
    settings.WHARF_STORAGE = {"BACKEND": "filesystem", "PATH": str(server.data_dir / "storage")}
    storage.backend.cache_clear()
    sbom = sbom_document(debian_inventory(), image_digest=image.digest, repository=NAME, created=CREATED)

    digest = attach_sbom(repository, image_digest=image.digest,
                         image_media_type=image.media_type, image_size=image.size, document=sbom)

    # oras-py has no `discover`: the referrers request it would send, with the token the server issues.
    found = requests.get(f"{server.url}/v2/{NAME}/referrers/{image.digest}", params={"artifactType": MEDIA_TYPE},
                         headers={"Authorization": f"Bearer {registry_token(server, f'repository:{NAME}:pull')}"},
                         timeout=10)
    assert found.status_code == 200, found.text
    assert [(d["digest"], d["artifactType"]) for d in found.json()["manifests"]] == [(digest, MEDIA_TYPE)]
    files = oras_alice.pull(f"{server.host}/{NAME}@{digest}", outdir=str(tmp_path / "pulled"))
    assert [Path(file).read_bytes() for file in files] == [sbom]
