"""Pull entries batched in a web process are written when the process is stopped gracefully, not lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from portal.audit.models import LogEntry
from registry_api import tokens
from tests.client import Client
from tests.conftest import ARTIFACTS, ROOT, database_url, free_port, wait_for_http
from tests.factories import make_repository, make_user
from tests.registry_api.helpers import OCI_MANIFEST, auth, oci_image, push_manifest


def shared_key() -> str:
    """This process's signing key, handed to the server as every node of a deployment gets it."""
    return tokens.keyring().private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()


def start_gunicorn(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "DATA_DIR": str(data_dir), "PORT": str(port),
           "WHARF_STORAGE_PATH": settings.WHARF_STORAGE["PATH"], "WHARF_TOKEN_KEY": shared_key(),
           # The flusher thread would not wake for an hour: only the stop can write the entry.
           "WHARF_AUDIT_FLUSH_SECONDS": "3600",
           "WEB_WORKERS": "1", "WEB_THREADS": "2", "DATABASE_CONN_MAX_AGE": "0",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    log = open(ARTIFACTS / "audit-on-stop.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py",
                             "portal.wsgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.django_db(transaction=True)
def test_a_pull_logged_just_before_gunicorn_gets_sigterm_is_in_the_audit_log() -> None:
    make_user("alice")
    make_repository("alice/app")
    client = Client()
    digest = push_manifest(client, "alice/app", "v1", oci_image(client, "alice/app"), OCI_MANIFEST)
    port = free_port()
    server = start_gunicorn(port, Path(tempfile.mkdtemp(prefix="wharf-audit-stop-")))
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v2/")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/alice/app/manifests/v1",
                                         headers={"Authorization": auth("alice/app", "pull"), "Accept": OCI_MANIFEST})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Docker-Content-Digest"] == digest

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    pull = LogEntry.objects.get(kind="pull", repository_name="alice/app")
    assert (pull.actor, pull.target) == ("alice", "v1")
