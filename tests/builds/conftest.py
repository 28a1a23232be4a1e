"""Build tests' parts: a real git repository made by the test, a real Celery worker on the `builds` queue that
pushes to a real Wharf (gunicorn, the live server) with real podman, and a wait for a build to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from builds.models import FINAL, Build
from tests.conftest import LiveServer, require_tool
from tests.workers.celery import start_worker, stop_worker

BUSYBOX = Path("/bin/busybox")


@dataclass
class GitRepository:
    """A git repository on disk standing in for one on GitHub (cloned through file://)."""

    path: Path
    commits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
               "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True,
                              env=env).stdout.strip()

    def commit(self, files: dict[str, str | bytes], message: str = "A change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
                target.chmod(0o755)   # binaries (the busybox): git keeps the executable bit
            else:
                target.write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        sha = self.git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha


@pytest.fixture
def git_repository(tmp_path: Path) -> GitRepository:
    require_tool("git")
    repository = GitRepository(tmp_path / "source.git")
    repository.path.mkdir()
    repository.git("init", "-q", "-b", "main")
    return repository


def scratch_dockerfile(*run: str, files: tuple[str, ...] = ("hello.txt",)) -> str:
    """A Dockerfile FROM scratch: the files COPYed, and RUN steps (exec form) through a static busybox when
    any are given (the test context carries it: tests never pull an image from the internet)."""
    lines = ["FROM scratch"]
    for name in files:
        lines.append(f"COPY {name} /{name}")
    if run:
        lines.append("COPY busybox /bin/busybox")
        for command in run:
            lines.append(f'RUN ["/bin/busybox", "sh", "-c", "{command}"]')
    return "\n".join(lines) + "\n"


def context_files(dockerfile: str, *, busybox: bool = False, **files: str) -> dict[str, str | bytes]:
    content: dict[str, str | bytes] = {"Dockerfile": dockerfile, "hello.txt": "hello from a Wharf build\n", **files}
    if busybox:
        content["busybox"] = BUSYBOX.read_bytes()
    return content


@dataclass
class BuildWorker:
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def stop(self, kill: bool = False) -> None:
        stop_worker(self.process, kill)


def start_build_worker(live_server: LiveServer, build_dir: Path, storage_root: Path,
                       **extra: str) -> BuildWorker:
    """A worker for `builds` (and `default`), pushing to the live server with the tests' small caps."""
    require_tool("podman")
    require_tool("unshare")
    env = {"WHARF_BUILD_DIR": str(build_dir), "WHARF_BUILD_REGISTRY_URL": live_server.url,
           "WHARF_SITE_URL": live_server.url, "WHARF_BUILD_ALLOW_FILE_URLS": "1",
           "WHARF_BUILD_HEARTBEAT_TIMEOUT": "6", "SECRET_KEY": settings.SECRET_KEY,
           # Small caps, so that the hostile builds hit them in seconds.
           "WHARF_BUILD_FILE_SIZE_LIMIT": "64", "WHARF_BUILD_PIDS_LIMIT": "128", "WHARF_BUILD_MEMORY_LIMIT": "512",
           # The worker signs the refresh token its podman trades at the live server's /v2/auth: one key for both,
           # as WHARF_TOKEN_KEY is one for every node of a deployment.
           "WHARF_TOKEN_KEY_PATH": str(live_server.data_dir / "keys" / "token-signing.pem"), **extra}
    process = start_worker(storage_root, "builds,default", "celery-build-worker.log",
                           name=f"builds-{os.getpid()}-{time.monotonic_ns()}@%h", env=env)
    return BuildWorker(process, {**os.environ, **env})


@pytest.fixture
def build_worker(live_server_wharf: LiveServer, storage: Any, transactional_db: Any,
                 tmp_path: Path) -> Iterator[BuildWorker]:
    """A worker for the `builds` queue (and `default`), pushing to the live server; stopped after the test."""
    build_dir = tmp_path / "builds"
    worker = start_build_worker(live_server_wharf, build_dir, storage.root)
    try:
        yield worker
    finally:
        worker.stop()
        shutil.rmtree(build_dir, ignore_errors=True)


def wait_for_build(build_id: int, seconds: float = 180, until: tuple[str, ...] = tuple(FINAL)) -> Build:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        build = Build.objects.get(pk=build_id)
        if build.status in until:
            return build
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} is still {Build.objects.get(pk=build_id).status} after {seconds}s")
