"""skopeo against a live Wharf: push, pull, tags, delete and private reads, over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.clients.conftest import CREDS, Clients, build_image, layer_digests, oci_manifest, to_oci_layout
from tests.conftest import LiveServer, require_tool

# The target is about a second; 5 s only catches the ~10 s stall of a TLS attempt that is never refused.
MAX_SECONDS = 5.0

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def app_layout(clients: Clients, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-layer image built FROM scratch with podman, staged as an OCI layout (ref "1") to push from."""
    require_tool("podman", "skopeo")
    work = tmp_path_factory.mktemp("skopeo-app")
    build_image(clients, "localhost/skopeo-app:1", work / "context", layers=3)
    to_oci_layout(clients, "localhost/skopeo-app:1", work / "layout", "1")
    return work / "layout"


def push(clients: Clients, layout: Path, ref: str, target: str) -> None:
    clients.skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false",
                   f"oci:{layout}:{ref}", f"docker://{target}")


def list_tags(clients: Clients, repository: str) -> list[str]:
    result = clients.skopeo("list-tags", "--creds", CREDS, "--tls-verify=false", f"docker://{repository}")
    tags: list[str] = json.loads(result.stdout)["Tags"]
    return tags


def test_skopeo_pushes_and_pulls_back_the_same_three_layers_quickly(
    clients: Clients, registry: LiveServer, app_layout: Path, tmp_path: Path, record_timing: dict[str, float],
) -> None:
    require_tool("skopeo")
    sent = oci_manifest(app_layout, "1")
    assert len(layer_digests(sent)) == 3

    started = time.monotonic()
    push(clients, app_layout, "1", f"{registry.host}/alice/app:1")
    pushed_in = record_timing["skopeo push (3 layers)"] = time.monotonic() - started

    pulled_layout = tmp_path / "pulled"
    started = time.monotonic()
    clients.skopeo("copy", "--quiet", "--src-creds", CREDS, "--src-tls-verify=false",
                   f"docker://{registry.host}/alice/app:1", f"oci:{pulled_layout}:1")
    pulled_in = record_timing["skopeo pull (3 layers)"] = time.monotonic() - started

    received = oci_manifest(pulled_layout, "1")
    assert layer_digests(received) == layer_digests(sent)
    for digest in layer_digests(received):
        data = (pulled_layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    assert pushed_in < MAX_SECONDS, f"push took {pushed_in:.1f}s"
    assert pulled_in < MAX_SECONDS, f"pull took {pulled_in:.1f}s"


def test_skopeo_lists_tags_and_deleting_one_tag_leaves_the_others(
    clients: Clients, registry: LiveServer, app_layout: Path, tmp_path: Path,
) -> None:
    require_tool("podman", "skopeo")
    # skopeo deletes by digest, so the doomed tag must name an image of its own.
    build_image(clients, "localhost/skopeo-old:1", tmp_path / "context", layers=1)
    old_layout = tmp_path / "old"
    to_oci_layout(clients, "localhost/skopeo-old:1", old_layout, "old")
    push(clients, app_layout, "1", f"{registry.host}/alice/app:1")
    push(clients, app_layout, "1", f"{registry.host}/alice/app:latest")
    push(clients, old_layout, "old", f"{registry.host}/alice/app:old")
    assert list_tags(clients, f"{registry.host}/alice/app") == ["1", "latest", "old"]

    clients.skopeo("delete", "--creds", CREDS, "--tls-verify=false", f"docker://{registry.host}/alice/app:old")

    assert list_tags(clients, f"{registry.host}/alice/app") == ["1", "latest"]
    gone = clients.skopeo("inspect", "--raw", "--creds", CREDS, "--tls-verify=false",
                          f"docker://{registry.host}/alice/app:old", check=False)
    assert gone.returncode != 0, gone.stdout


def test_skopeo_reads_a_private_repository_only_with_credentials(
    clients: Clients, registry: LiveServer, app_layout: Path,
) -> None:
    require_tool("skopeo")
    push(clients, app_layout, "1", f"{registry.host}/alice/app:1")
    reference = f"docker://{registry.host}/alice/app:1"

    anonymous = clients.skopeo("inspect", "--no-creds", "--tls-verify=false", reference, check=False)
    wrong = clients.skopeo("inspect", "--creds", "alice:wrong", "--tls-verify=false", reference, check=False)
    allowed = clients.skopeo("inspect", "--creds", CREDS, "--tls-verify=false", reference)

    assert anonymous.returncode != 0, anonymous.stdout
    assert "unauthorized" in anonymous.stderr.lower() or "401" in anonymous.stderr, anonymous.stderr
    assert wrong.returncode != 0, wrong.stdout
    sent = oci_manifest(app_layout, "1")
    assert json.loads(allowed.stdout)["Layers"] == layer_digests(sent)
