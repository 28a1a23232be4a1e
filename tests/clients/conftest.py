"""Real registry clients against a live Wharf: isolated podman/buildah/skopeo state, images built FROM scratch.

Every tool runs with its own storage (`--root`/`--runroot` under a session tmp dir, the vfs driver), its own
auth file (REGISTRY_AUTH_FILE) and a registries.conf without search registries, so that no test reads or
writes the machine's images or credentials, and nothing is ever pulled from the internet. (One thing stays
shared: as root, skopeo keeps its blob-info cache in /var/lib/containers/cache and has no flag to move it;
it only remembers where a blob was seen, and the live servers' ports are new every session.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, LiveServer
from tests.factories import PASSWORD

CREDS = f"alice:{PASSWORD}"
TIMEOUT = 120   # seconds; every client call is bounded, none may hang the suite


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = TIMEOUT,
        check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with captured output; when `check`, a non-zero exit fails with its stderr attached."""
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}\n"
                             f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


@dataclass
class Clients:
    """podman, buildah and skopeo sharing one isolated containers-storage and one auth file."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def runroot(self) -> Path:
        return self.home / "runroot"

    @property
    def auth_file(self) -> Path:
        return self.home / "auth.json"

    def storage_flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def storage_ref(self, image: str) -> str:
        """A containers-storage: transport reference that skopeo resolves in this storage."""
        return f"containers-storage:[vfs@{self.root}+{self.runroot}]{image}"

    def podman(self, *args: str, check: bool = True, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run(["podman", *self.storage_flags(), "--events-backend", "none", *args], env=self.env,
                   check=check, timeout=timeout)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["buildah", *self.storage_flags(), *args], env=self.env, check=check)

    def skopeo(self, *args: str, check: bool = True, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run(["skopeo", *args], env=self.env, check=check, timeout=timeout)


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clients]:
    home = tmp_path_factory.mktemp("clients")
    registries_conf = home / "registries.conf"
    registries_conf.write_text("unqualified-search-registries = []\n")
    (home / "tmp").mkdir()
    (home / "auth.json").write_text('{"auths": {}}\n')   # podman refuses an auth file that is missing
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(home / "auth.json"),
           "CONTAINERS_REGISTRIES_CONF": str(registries_conf), "TMPDIR": str(home / "tmp")}
    tools = Clients(home, env)
    yield tools
    # vfs layers are plain directories and no container ever runs, so there is nothing mounted to undo.
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def registry(live_server_wharf: LiveServer, registry_user: object) -> LiveServer:
    """The live server, with alice (password tests.factories.PASSWORD) committed for this test."""
    return live_server_wharf


@pytest.fixture(scope="session")
def record_timing() -> Iterator[dict[str, float]]:
    """Collects client timings by label; they are written to test-artifacts/client-timings.txt at the end."""
    timings: dict[str, float] = {}
    yield timings
    if timings:
        ARTIFACTS.mkdir(exist_ok=True)
        lines = [f"{label}: {seconds:.3f}s" for label, seconds in timings.items()]
        (ARTIFACTS / "client-timings.txt").write_text("\n".join(lines) + "\n")


def build_image(clients: Clients, tag: str, context: Path, *, layers: int = 3, arch: str | None = None) -> str:
    """Build `tag` FROM scratch with one COPY layer of random bytes per layer; returns the image id."""
    context.mkdir(parents=True, exist_ok=True)
    steps = ["FROM scratch"]
    for index in range(layers):
        (context / f"layer{index}.bin").write_bytes(os.urandom(64 * 1024 // (index + 1)))
        steps.append(f"COPY layer{index}.bin /data/layer{index}.bin")
    (context / "Containerfile").write_text("\n".join(steps) + "\n")
    arch_flags = ["--arch", arch] if arch else []
    result = clients.podman("build", "--quiet", *arch_flags, "--tag", tag, "--file",
                            str(context / "Containerfile"), str(context))
    return result.stdout.strip().splitlines()[-1]


def to_oci_layout(clients: Clients, image: str, layout: Path, ref: str = "latest") -> dict[str, object]:
    """Copy an image from the isolated storage into an OCI layout directory; returns its manifest."""
    clients.skopeo("copy", "--quiet", clients.storage_ref(image), f"oci:{layout}:{ref}")
    return oci_manifest(layout, ref)


def oci_manifest(layout: Path, ref: str) -> dict[str, object]:
    """The image manifest that `ref` names in an OCI layout directory."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            algorithm, hex_ = descriptor["digest"].split(":", 1)
            manifest: dict[str, object] = json.loads((layout / "blobs" / algorithm / hex_).read_text())
            return manifest
    raise AssertionError(f"{ref} is not in {layout}/index.json: {index}")


def layer_digests(manifest: dict[str, object]) -> list[str]:
    layers = manifest["layers"]
    assert isinstance(layers, list)
    return [layer["digest"] for layer in layers]
