"""A repository's life in a real browser with a real client: create it through the form, push an image to it
with skopeo, find the tag with its size and digest on the tags page, copy the pull command, delete the tag,
restore it from the history, and pull it again with skopeo.

The image is written by hand as an OCI layout (one gzip layer of random bytes, FROM scratch in effect), so
only skopeo is needed. skopeo runs with its own auth file and registries.conf, as in tests/clients/.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from portal.repositories.models import Repository
from registry_api.models import Manifest, Tag, TagEvent
from tests.browser.conftest import Shot, sign_in
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)
CREDS = f"alice:{PASSWORD}"
TIMEOUT = 120   # seconds; no client call may hang the suite
LAYER_BYTES = 300 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout(layout: Path, ref: str) -> tuple[str, int]:
    """An OCI image layout holding one image under `ref`: a config with a build history and one gzip layer
    of random bytes. Returns the manifest's digest and the image's compressed size (config + layer)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        payload = os.urandom(LAYER_BYTES)
        info = tarfile.TarInfo("data/payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"org.example.flow": "browser"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(tar_bytes.getvalue())]},
        "history": [{"created_by": "COPY payload.bin /data/payload.bin"}],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(layer),
                    "size": len(layer)}],
    }).encode()
    digest = blob(manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": ref}}]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return digest, len(config) + len(layer)


@pytest.fixture
def skopeo(tmp_path: Path) -> Iterator[Any]:
    """skopeo with an auth file and registries.conf of its own; fails the test with stderr on a non-zero exit."""
    require_tool("chromium", "skopeo")
    (tmp_path / "registries.conf").write_text("unqualified-search-registries = []\n")
    (tmp_path / "auth.json").write_text('{"auths": {}}\n')
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
           "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf"), "TMPDIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["skopeo", *args], env=env, capture_output=True, text=True, timeout=TIMEOUT,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, f"skopeo {' '.join(args)} exited {result.returncode}\n{result.stderr}"
        return result
    yield run


def pulled_manifest_digest(layout: Path) -> str:
    descriptor = json.loads((layout / "index.json").read_text())["manifests"][0]
    return str(descriptor["digest"])


def test_create_push_find_copy_delete_restore_and_pull_again(page: Any, shot: Shot, skopeo: Any,
                                                             live_server_wharf: LiveServer, tmp_path: Path) -> None:
    host = live_server_wharf.host
    make_user("alice")
    sign_in(page, "alice")
    shot("dashboard")

    # Create the repository through the form (empty, to push into; the build starts lead to builds pages).
    page.click("nav >> text=New repository")
    page.fill("#id_name", "flow")
    page.fill("#id_description", "The **browser** flow's image.")
    assert page.is_enabled("input[name=start][value=github]")
    assert page.is_enabled("input[name=start][value=dockerfile]")
    assert page.is_checked("input[name=start][value=empty]")
    shot("new")
    page.click("main button[type=submit]")
    page.wait_for_url("**/repository/alice/flow/")
    expect(page.locator("[data-testid=push-command]")).to_have_text(
        f"podman push --tls-verify=false IMAGE {host}/alice/flow:TAG")
    expect(page.locator("[data-testid=description] strong")).to_have_text("browser")
    assert Repository.objects.get(full_name="alice/flow").visibility == "private"
    shot("created")

    # Push with skopeo.
    digest, image_size = write_layout(tmp_path / "layout", "v1")
    skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1",
           f"docker://{host}/alice/flow:v1")
    assert Tag.objects.get(repository__full_name="alice/flow", name="v1").manifest.digest == digest

    # The tags page shows the tag with its size and digest.
    page.click(".tabs >> text=Tags")
    page.wait_for_url("**/repository/alice/flow/tags/")
    row = page.locator("tr.tag-row[data-tag=v1]")
    expect(row.locator("td.size")).to_have_text(f"{image_size / 1024:.1f} KiB")
    expect(row.locator("td.digest a code")).to_have_text(digest[:19])
    assert row.locator("td.scan").inner_text().strip() == "queued"   # the push queued its scan (no worker here)
    shot("tags")

    # Copy the pull command: the button says so, and the clipboard holds the command.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_wharf.url)
    row.locator("[data-testid=copy-pull]").click()
    expect(row.locator("[data-testid=copy-pull]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"podman pull --tls-verify=false {host}/alice/flow:v1"
    shot("copied")

    # The manifest page, from the digest's link.
    row.locator("td.digest a").click()
    page.wait_for_url(f"**/repository/alice/flow/manifest/{digest}/")
    expect(page.locator("[data-testid=layers]")).to_contain_text("COPY payload.bin /data/payload.bin")
    expect(page.locator("[data-testid=labels]")).to_contain_text("org.example.flow")
    shot("manifest")

    # Delete the tag.
    page.go_back()
    page.locator("tr.tag-row[data-tag=v1] summary").click()
    page.locator("tr.tag-row[data-tag=v1] [data-testid=delete-tag]").click()
    expect(page.locator("[data-testid=confirm-page]")).to_contain_text(digest)   # it asks first
    assert Tag.objects.filter(repository__full_name="alice/flow", name="v1").exists()
    page.click("[data-testid=confirm]")
    expect(page.locator(".messages")).to_contain_text("Deleted the tag v1")
    expect(page.locator("[data-testid=tags]")).to_contain_text("No tags yet")
    assert not Tag.objects.filter(repository__full_name="alice/flow").exists()
    shot("deleted")

    # Restore it from the history with one click.
    page.click(".tabs >> text=History")
    page.wait_for_url("**/repository/alice/flow/history/")
    deleted = page.locator("tr.history-row[data-kind=deleted][data-tag=v1]")
    expect(deleted).to_contain_text("alice")
    shot("history")
    deleted.locator("[data-testid=restore]").click()
    expect(page.locator(".messages")).to_contain_text(f"Restored the tag v1 to {digest}.")
    assert Tag.objects.get(repository__full_name="alice/flow", name="v1").manifest.digest == digest
    assert list(TagEvent.objects.filter(repository__full_name="alice/flow").order_by("id")
                .values_list("kind", flat=True)) == ["pushed", "deleted", "pushed"]
    shot("restored")

    # And pull it again with skopeo.
    skopeo("copy", "--quiet", "--src-creds", CREDS, "--src-tls-verify=false", f"docker://{host}/alice/flow:v1",
           f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled_manifest_digest(tmp_path / "pulled") == digest
    page.click(".tabs >> text=Overview")
    expect(page.locator("[data-testid=pull-commands]")).to_contain_text(
        f"podman pull --tls-verify=false {host}/alice/flow@{digest}")
    shot("overview")


def test_platform_rows_a_refused_retag_and_a_readers_view(page: Any, shot: Shot) -> None:
    from tests.factories import grant, make_repository
    from tests.web.images import make_image, make_index

    make_user("alice")
    grant(repository := make_repository("alice/multi"), "read", user=make_user("charlie"))
    amd64 = make_image(repository, None, layers=[b"a" * 40_000])
    make_image(repository, None, layers=[b"b" * 20_000])
    arm64 = make_image(repository, None, layers=[b"c" * 30_000])
    make_index(repository, "v1", {"linux/amd64": amd64, "linux/arm64/v8": arm64})
    make_image(repository, "debug", layers=[b"d" * 1_000])
    sign_in(page, "alice")

    page.goto("/repository/alice/multi/tags/")
    expect(page.locator("tr.platform-row")).to_have_count(2)
    arm64_size = Manifest.objects.get(repository=repository, digest=arm64).image_size   # 30,000 B and a config
    expect(page.locator("tr.platform-row[data-platform='linux/arm64/v8'] td.size")).to_have_text(
        f"{arm64_size / 1024:.1f} KiB")
    shot("platforms")

    row = page.locator("tr.tag-row[data-tag=debug]")
    row.locator("summary").click()
    row.locator("input[name=name]").fill("Bad Name")
    row.locator("form:has(input[value=retag]) button[type=submit]").click()
    expect(page.locator("[data-testid=action-error]")).to_contain_text("'Bad Name' is not a valid tag")
    expect(page.locator("tr.tag-row[data-tag=debug] details")).to_have_attribute("open", "")
    assert sorted(Tag.objects.filter(repository=repository).values_list("name", flat=True)) == ["debug", "v1"]
    shot("refused")

    page.click("[data-testid=user-menu]")
    page.click("text=Sign out")
    sign_in(page, "charlie")
    page.goto("/repository/alice/multi/tags/")
    expect(page.locator("tr.tag-row")).to_have_count(2)
    expect(page.locator("[data-testid=tags] form")).to_have_count(0)
    shot("reader")
