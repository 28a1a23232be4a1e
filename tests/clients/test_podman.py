"""podman and buildah against a live Wharf: login, push, pull, buildah images and multi-arch manifest lists."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import CREDS, Clients, build_image
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def login(clients: Clients, registry: LiveServer, password: str = PASSWORD,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    return clients.podman("login", "--tls-verify=false", "--username", "alice", "--password", password,
                          registry.host, check=check)


def saved_hosts(clients: Clients) -> set[str]:
    if not clients.auth_file.exists():
        return set()
    return set(json.loads(clients.auth_file.read_text()).get("auths", {}))


def inspect_raw(clients: Clients, reference: str) -> dict[str, object]:
    result = clients.skopeo("inspect", "--raw", "--creds", CREDS, "--tls-verify=false", f"docker://{reference}")
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_podman_login_accepts_alices_password_and_refuses_a_wrong_one(
    clients: Clients, registry: LiveServer,
) -> None:
    require_tool("podman")
    clients.podman("logout", "--all")

    refused = login(clients, registry, password="not her password", check=False)
    assert refused.returncode != 0, refused.stdout
    assert "invalid username/password" in refused.stderr, refused.stderr
    assert registry.host not in saved_hosts(clients)

    login(clients, registry)
    assert registry.host in saved_hosts(clients)
    assert clients.podman("login", "--get-login", registry.host).stdout.strip() == "alice"


def test_podman_pushes_and_pulls_an_image_with_its_login(
    clients: Clients, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("podman", "skopeo")
    login(clients, registry)
    image_id = build_image(clients, "localhost/podman-app:1", tmp_path / "context", layers=3)
    remote = f"{registry.host}/alice/podman-app:1"
    clients.podman("tag", "localhost/podman-app:1", remote)

    clients.podman("push", "--tls-verify=false", remote)
    clients.podman("rmi", "--force", image_id)
    assert clients.podman("image", "exists", remote, check=False).returncode != 0
    clients.podman("pull", "--tls-verify=false", remote)

    pulled = json.loads(clients.podman("image", "inspect", remote).stdout)[0]
    assert pulled["Id"] == image_id          # the config came back byte for byte
    assert len(pulled["RootFS"]["Layers"]) == 3
    assert len(inspect_raw(clients, remote)["layers"]) == 3  # type: ignore[arg-type]


def test_buildah_pushes_an_image_committed_from_scratch(
    clients: Clients, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("buildah", "skopeo")
    login(clients, registry)
    (tmp_path / "hello.txt").write_text("hello from buildah\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 4096)
    container = clients.buildah("from", "scratch").stdout.strip()
    try:
        clients.buildah("copy", container, str(tmp_path / "hello.txt"), "/hello.txt")
        clients.buildah("copy", container, str(tmp_path / "blob.bin"), "/data/blob.bin")
        clients.buildah("config", "--label", "built-by=wharf-tests", container)
        image_id = clients.buildah("commit", "--quiet", container, "localhost/buildah-app:1").stdout.strip()
    finally:
        clients.buildah("rm", container, check=False)

    remote = f"{registry.host}/alice/buildah-app:1"
    clients.buildah("push", "--tls-verify=false", "localhost/buildah-app:1", f"docker://{remote}")

    manifest = inspect_raw(clients, remote)
    assert manifest["config"]["digest"] == f"sha256:{image_id}"  # type: ignore[index]
    config = json.loads(clients.skopeo("inspect", "--config", "--creds", CREDS, "--tls-verify=false",
                                       f"docker://{remote}").stdout)
    assert config["config"]["Labels"]["built-by"] == "wharf-tests"


def test_podman_pushes_a_manifest_list_with_both_platforms(
    clients: Clients, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("podman", "skopeo")
    login(clients, registry)
    for arch in ("amd64", "arm64"):
        build_image(clients, f"localhost/multi-app:{arch}", tmp_path / arch, layers=2, arch=arch)
    local_list = "localhost/multi-app:list"
    clients.podman("manifest", "rm", local_list, check=False)
    clients.podman("manifest", "create", local_list)
    for arch in ("amd64", "arm64"):
        clients.podman("manifest", "add", local_list, f"containers-storage:localhost/multi-app:{arch}")

    remote = f"{registry.host}/alice/multi-app:v1"
    clients.podman("manifest", "push", "--all", "--tls-verify=false", local_list, f"docker://{remote}")

    index = inspect_raw(clients, remote)
    assert index["mediaType"] in (OCI_INDEX, DOCKER_LIST)
    children = index["manifests"]
    assert isinstance(children, list)
    assert sorted(child["platform"]["architecture"] for child in children) == ["amd64", "arm64"]
    for child in children:   # each platform's manifest is there by digest
        assert inspect_raw(clients, f"{registry.host}/alice/multi-app@{child['digest']}")["layers"]
    arm = json.loads(clients.skopeo("inspect", "--override-arch", "arm64", "--override-os", "linux", "--creds",
                                    CREDS, "--tls-verify=false", f"docker://{remote}").stdout)
    assert arm["Architecture"] == "arm64"
    tags = json.loads(clients.skopeo("list-tags", "--creds", CREDS, "--tls-verify=false",
                                     f"docker://{registry.host}/alice/multi-app").stdout)["Tags"]
    assert tags == ["v1"]
