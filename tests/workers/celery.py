"""A real Celery worker for a test: on Redis in the PostgreSQL pass, on the embedded filesystem broker (as
`make run` has it) in the SQLite pass, reading the test's database and storage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ARTIFACTS, ROOT, database_url, require_tool


def start_worker(storage_root: Path, queues: str, log_name: str, *, name: str = "",
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A solo-pool worker on `queues` (comma-separated); its output goes to test-artifacts/<log_name>."""
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis://"):
        require_tool("redis-server")
    elif broker != "filesystem://":
        pytest.fail(f"the suite runs on Redis or the embedded filesystem broker; got {broker}")
    full_env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "portal.settings",
                "WHARF_STORAGE_PATH": str(storage_root), "CELERY_BROKER_URL": broker,
                "DATA_DIR": str(settings.DATA_DIR),   # the filesystem broker's folder is DATA_DIR/broker
                **(env or {})}
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / log_name, "ab") as log:
        # Messages earlier tests left in these queues (every push queues a scan; Redis outlives a test's database)
        # would run against this test's rows: empty the queues first, before anything of this test is sent.
        subprocess.run([sys.executable, "-m", "celery", "-A", "portal", "purge", "-f", "-Q", queues], cwd=ROOT,
                       env=full_env, stdout=log, stderr=subprocess.STDOUT, timeout=60, check=False)
        argv = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues, "--pool", "solo",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if name:
            argv += ["-n", name]
        return subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen[bytes], kill: bool = False) -> None:
    if worker.poll() is None:
        worker.kill() if kill else worker.terminate()
        worker.wait(timeout=60)
