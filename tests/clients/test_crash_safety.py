"""A server killed with SIGKILL loses nothing committed, and an upload it was receiving carries on from its
last committed byte. Also: a TLS handshake on the plain-HTTP port is refused at once."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ARTIFACTS, ROOT, free_port, wait_for_http

pytestmark = pytest.mark.clients

PASSWORD = "crash-test-password-1"


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS",
                                   "CSRF_TRUSTED_ORIGINS")}
        self.env.update(DATA_DIR=str(data_dir), PORT=str(self.port), DJANGO_SETTINGS_MODULE="portal.settings",
                        WHARF_SITE_URL=self.url)
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str, **env: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **env}, check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        log = open(ARTIFACTS / "crash-server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(f"{self.url}/v2/")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data")
    server.manage("migrate", "--noinput")
    server.manage("createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
                  DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def auth(server: Server) -> dict[str, str]:
    response = requests.get(f"{server.url}/v2/auth", auth=("alice", PASSWORD), timeout=30,
                            params={"service": "wharf", "scope": "repository:alice/app:pull,push"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def send_part_of_a_patch(server: Server, location: str, headers: dict[str, str], total: int, sent: bytes) -> None:
    """Start a PATCH that announces `total` bytes, send only `sent`, and leave the connection open."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    head = [f"PATCH {location} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Content-Length: {total}",
            "Content-Type: application/octet-stream", *(f"{k}: {v}" for k, v in headers.items())]
    connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + sent)
    time.sleep(0.5)   # the server is now writing these bytes to the upload


def test_a_killed_server_keeps_committed_blobs_and_resumes_an_upload(server):
    headers = auth(server)
    layer = os.urandom(3 << 20)
    committed = requests.post(f"{server.url}/v2/alice/app/blobs/uploads/?digest={digest_of(layer)}", data=layer,
                              headers=headers, timeout=30)
    assert committed.status_code == 201
    first, rest = os.urandom(1 << 20), os.urandom(2 << 20)
    location = requests.post(f"{server.url}/v2/alice/app/blobs/uploads/", headers=headers, timeout=30).headers[
        "Location"]
    assert requests.patch(f"{server.url}{location}", data=first, headers=headers, timeout=30).status_code == 202

    send_part_of_a_patch(server, location, headers, total=len(rest), sent=rest[: len(rest) // 2])
    server.kill()
    server.start()
    headers = auth(server)

    pulled = requests.get(f"{server.url}/v2/alice/app/blobs/{digest_of(layer)}", headers=headers, timeout=30)
    assert pulled.status_code == 200 and pulled.content == layer
    progress = requests.get(f"{server.url}{location}", headers=headers, timeout=30)
    assert progress.status_code == 204 and progress.headers["Range"] == f"0-{len(first) - 1}"
    finished = requests.put(f"{server.url}{location}?digest={digest_of(first + rest)}", data=rest, headers=headers,
                            timeout=30)
    assert finished.status_code == 201, finished.text
    pulled = requests.get(f"{server.url}/v2/alice/app/blobs/{digest_of(first + rest)}", headers=headers, timeout=30)
    assert pulled.content == first + rest


def test_a_tls_handshake_on_the_http_port_is_refused_at_once(server):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, pytest.raises(OSError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert time.monotonic() - started < 1.0
