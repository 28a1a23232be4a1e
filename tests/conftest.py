"""Shared fixtures: the test client as a server splits it, personas, a fresh storage per test, registry tokens,
and a live Wharf server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.builds.github_standin import github_api  # noqa: F401 (a fixture: GitHub at the HTTP edge)
from tests.client import Client
from tests.factories import PASSWORD, make_user
from tests.s3 import s3_server, s3_storage, unique_prefix  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS.mkdir(exist_ok=True)


def require_tool(*names: str) -> None:
    """Skip on a laptop that lacks a tool; in CI a missing tool is a failure, never a skip."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"CI needs {', '.join(missing)} (make test installs it when run as root)")
        pytest.skip(f"needs {', '.join(missing)} (a skip only off CI; with CI=true it fails above)")


@pytest.fixture(autouse=True)
def storage(request, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Every test gets an empty blob store of its own: a directory, or with WHARF_TEST_STORAGE=s3 a prefix
    of its own in the moto bucket (tests/s3.py), redirects off, to run registry tests on the s3 backend."""
    from registry_api import storage as storage_module

    settings.WHARF_STORAGE = {"BACKEND": "filesystem", "PATH": str(tmp_path / "storage")}
    if os.environ.get("WHARF_TEST_STORAGE") == "s3":
        server = request.getfixturevalue("s3_server")
        settings.WHARF_STORAGE = server.storage_settings(unique_prefix(), redirect=False)
    storage_module.backend.cache_clear()
    yield storage_module.backend()
    storage_module.backend.cache_clear()


@pytest.fixture(autouse=True)
def steady_throttle_window(monkeypatch):  # type: ignore[no-untyped-def]
    """The abuse limits count in fixed windows of wall-clock time; a test whose failures straddled a window's
    end would see its count start again. In-process tests get a clock that stands still in mid-window
    (tests/auth/test_throttle.py moves its own)."""
    import types

    from portal import throttle

    monkeypatch.setattr(throttle, "time", types.SimpleNamespace(time=lambda: 1_000_000_000 * 300 + 150.0))


@pytest.fixture(autouse=True)
def fresh_scan_policies():  # type: ignore[no-untyped-def]
    """Each process caches the security policies for a few seconds; a test starts with none cached (ids are
    reused once a test's rows are rolled back)."""
    from portal.repositories import scan_policy

    scan_policy.forget()
    yield
    scan_policy.forget()


@pytest.fixture
def client() -> Client:
    """pytest-django's client, with /v2/ on the registry's handler as a server runs it (tests/client.py)."""
    return Client()


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    return make_user("alice")


@pytest.fixture
def bob(db):  # type: ignore[no-untyped-def]
    return make_user("bob")


@pytest.fixture
def charlie(db):  # type: ignore[no-untyped-def]
    return make_user("charlie")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class LiveServer:
    url: str
    host: str          # host:port, as podman and skopeo name the registry
    data_dir: Path
    process: subprocess.Popen[bytes]


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return   # 401 from /v2/ means the server answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="session")
def live_server_wharf(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A real gunicorn running Wharf against the test database, for real clients."""
    yield from run_live_server()


@pytest.fixture(scope="session")
def live_server_wharf_s3(request, django_db_setup, django_db_blocker) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The same, keeping its blobs in the moto bucket (tests/s3.py) under the prefix "live/"."""
    server = request.getfixturevalue("s3_server")
    yield from run_live_server(server.env("live/"), log_name="live-server-s3.log")


def run_live_server(extra_env: dict[str, str] | None = None, log_name: str = "live-server.log") -> Iterator[LiveServer]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wharf-live-"))
    # The site is the address the clients use; the allowed hosts and trusted origins follow it.
    env = {**{k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")},
           "DATABASE_URL": database_url(), "DATA_DIR": str(data_dir), "PORT": str(port),
           # One SECRET_KEY with the test process and its workers, as every node of a deployment shares it (a
           # build's push credential names a password generation keyed by it).
           "SECRET_KEY": django_settings.SECRET_KEY,
           "WHARF_SITE_URL": f"http://127.0.0.1:{port}",
           "WEB_WORKERS": "2", "WEB_THREADS": "4", "DATABASE_CONN_MAX_AGE": "0",
           "DJANGO_SETTINGS_MODULE": "portal.settings", **(extra_env or {})}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v2/")
        yield LiveServer(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", data_dir, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def registry_user(transactional_db):  # type: ignore[no-untyped-def]
    """alice, committed so that the live server sees her; her password is tests.factories.PASSWORD."""
    return make_user("alice")


__all__ = ["PASSWORD", "require_tool"]


def mount_small_disk(path: Path, size: str) -> None:
    """A real filesystem of `size` at `path` (tmpfs, which needs root); skips off CI when it cannot be had."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                            text=True, timeout=30)
    if result.returncode != 0:
        message = f"cannot mount a small tmpfs here: {result.stderr.strip()}"
        pytest.fail(message) if IN_CI else pytest.skip(message)


def unmount(path: Path) -> None:
    subprocess.run(["umount", "--lazy", str(path)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the filesystem at `disk` with one file, then give back `leave` bytes; returns the file."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\1" * (64 << 10))
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An empty 4 MiB filesystem of this test's own."""
    disk = tmp_path / "disk"
    mount_small_disk(disk, "4m")
    yield disk
    unmount(disk)
