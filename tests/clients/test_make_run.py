"""`make run` on the embedded default (SQLite, a filesystem broker, all state under DATA_DIR) serves real clients."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.conftest import CREDS, Clients, build_image, layer_digests, oci_manifest, run, to_oci_layout
from tests.conftest import ARTIFACTS, ROOT, free_port, require_tool
from tests.factories import PASSWORD

pytestmark = [pytest.mark.clients]

# The first `make run` on a machine may still install the locked requirements into .venv.
STARTUP_SECONDS = 300
# Variables that would move state out of DATA_DIR (or point at the suite's servers and settings).
NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY",
                "WHARF_STORAGE_BACKEND", "WHARF_STORAGE_PATH", "WHARF_TOKEN_KEY", "WHARF_TOKEN_KEY_PATH",
                "WHARF_TOKEN_PREVIOUS_KEY", "WHARF_TOKEN_PREVIOUS_KEY_PATH", "WHARF_SITE_URL",
                "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")


@dataclass
class Embedded:
    host: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    pid: int   # make's, the leader of the process group `make run` started


def embedded_env(port: int, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_EMBEDDED}
    return {**env, "PORT": str(port), "DATA_DIR": str(data_dir)}


def wait_for_challenge(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until `url` answers 401 (the registry's challenge); fail early if `make run` dies."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError as error:
            assert error.code == 401, f"{url} answered {error.code}"
            return
        except OSError:
            time.sleep(0.2)
        else:
            raise AssertionError(f"{url} answered 200 to an anonymous caller")
    raise AssertionError(f"{url} did not answer within {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop make, run.sh, gunicorn and the Celery worker: the whole process group this test started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # run.sh waits for its children, but a straggler in the group must not outlive the test.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    require_tool("make")
    port, data_dir = free_port(), tmp_path / "data"
    env, log = embedded_env(port, data_dir), tmp_path / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_challenge(f"http://127.0.0.1:{port}/v2/", process, log)
        yield Embedded(f"127.0.0.1:{port}", data_dir, env, log, process.pid)
    finally:
        stop_group(process)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "make-run.log").write_bytes(log.read_bytes())


def create_superuser(embedded: Embedded) -> None:
    env = {**embedded.env, "DJANGO_SUPERUSER_USERNAME": "alice", "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
           "DJANGO_SUPERUSER_EMAIL": "alice@example.com"}
    run([str(ROOT / ".venv/bin/python"), "manage.py", "createsuperuser", "--noinput"], env=env, cwd=ROOT,
        timeout=60)


def test_make_run_serves_a_push_and_pull_with_all_state_under_data_dir(
    embedded: Embedded, clients: Clients, tmp_path: Path, record_timing: dict[str, float],
) -> None:
    require_tool("skopeo", "podman")
    create_superuser(embedded)
    build_image(clients, "localhost/embedded-app:1", tmp_path / "context", layers=3)
    sent = to_oci_layout(clients, "localhost/embedded-app:1", tmp_path / "layout", "1")

    started = time.monotonic()
    clients.skopeo("copy", "--quiet", "--dest-creds", CREDS, "--dest-tls-verify=false",
                   f"oci:{tmp_path / 'layout'}:1", f"docker://{embedded.host}/alice/app:1")
    record_timing["make run: skopeo push (3 layers)"] = time.monotonic() - started
    started = time.monotonic()
    clients.skopeo("copy", "--quiet", "--src-creds", CREDS, "--src-tls-verify=false",
                   f"docker://{embedded.host}/alice/app:1", f"oci:{tmp_path / 'pulled'}:1")
    record_timing["make run: skopeo pull (3 layers)"] = time.monotonic() - started

    assert layer_digests(oci_manifest(tmp_path / "pulled", "1")) == layer_digests(sent)
    tags = json.loads(clients.skopeo("list-tags", "--creds", CREDS, "--tls-verify=false",
                                     f"docker://{embedded.host}/alice/app").stdout)["Tags"]
    assert tags == ["1"]
    assert_state_is_under_data_dir(embedded.data_dir, layer_digests(sent))


def assert_state_is_under_data_dir(data_dir: Path, digests: list[str]) -> None:
    database = data_dir / "wharf.sqlite3"
    assert database.is_file()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT username FROM accounts_user").fetchall() == [("alice",)]
        assert db.execute("SELECT name FROM registry_api_tag").fetchall() == [("1",)]
    stored = {path.name for path in (data_dir / "storage").rglob("*") if path.is_file()}
    assert {digest.split(":", 1)[1] for digest in digests} <= stored, stored
    assert (data_dir / "keys" / "token-signing.pem").is_file()


def celery_mains(group: int, role: str, queues: str = "") -> list[int]:
    """The pids of the main Celery `role` (worker or beat) processes in a process group (not pool children);
    with `queues`, only the workers consuming exactly those (-Q)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if queues and queues.encode() not in argv:
                continue
            if os.getpgid(int(entry.name)) == group and b"celery" in b" ".join(argv) and role.encode() in argv:
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    # A main process is started by run.sh's supervisor; the pool child of a killed main lingers for a moment,
    # orphaned (its parent is then init), and is not a restarted worker.
    return sorted(pid for pid, parent in found.items() if parent not in found and _is_run_sh(parent))


def _is_run_sh(pid: int) -> bool:
    try:
        return b"run.sh" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_for(condition: Callable[[], object], seconds: float, what: str, log: Path) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds}s:\n{log.read_text()[-4000:]}")


# make run's supervised Celery processes: the worker (queues default and scans), the build worker and the beat.
SUPERVISED = (("worker", "default,scans", "Celery worker"), ("worker", "builds", "Celery build worker"),
              ("beat", "", "Celery beat"))


def test_make_run_restarts_a_celery_worker_or_beat_that_dies(embedded: Embedded) -> None:
    group = embedded.pid   # make leads the session (and so the process group) it was started in
    for role, queues, name in SUPERVISED:
        def mains(role: str = role, queues: str = queues) -> list[int]:
            return celery_mains(group, role, queues)

        (old,) = wait_for(mains, 60, f"no {name}", embedded.log)

        os.kill(old, signal.SIGKILL)

        new = wait_for(lambda old=old, mains=mains: [pid for pid in mains() if pid != old], 30,
                       f"no new {name}", embedded.log)
        time.sleep(3)   # and the new one stays up
        assert mains() == new, embedded.log.read_text()[-4000:]
        assert f"the {name} exited with status 137; restarting it" in embedded.log.read_text()
