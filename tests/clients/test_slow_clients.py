"""Clients that send nothing, or a byte at a time, cannot starve the others (portal/gunicorn_worker.py).

A gunicorn of its own, configured like `make run` (2 workers × 8 threads) with short deadlines, faces a
bounded crowd on loopback: 300 connections that send nothing and 40 that send their headers a byte at a
time, while normal requests must keep answering; then single tricklers must be cut off at the deadlines.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.conftest import ARTIFACTS, ROOT, database_url, free_port, wait_for_http

pytestmark = [pytest.mark.clients]

HEADER_TIMEOUT = 3.0
BODY_TIMEOUT = 2.0
BODY_MIN_RATE = 100.0   # bytes/s: a byte every 0.2 s buys 10 ms, far less than it takes
SLACK = 2.5             # the deadlines are checked a few times a second, on a loaded machine


@contextmanager
def running_server(**settings: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="wharf-slow-")
    env = {**os.environ, "DATABASE_URL": database_url(), "DATA_DIR": data_dir, "PORT": str(port),
           "WEB_WORKERS": "2", "WEB_THREADS": "8", "DATABASE_CONN_MAX_AGE": "0",
           "DJANGO_SETTINGS_MODULE": "portal.settings", "WEB_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
           "WEB_BODY_TIMEOUT": str(BODY_TIMEOUT), "WEB_BODY_MIN_RATE": str(BODY_MIN_RATE),
           "ALLOWED_HOSTS": "wharf,127.0.0.1", **settings}   # the raw requests below name the host "wharf"
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "slow-clients-server.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v2/")
            yield "127.0.0.1", port
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    with running_server() as address:
        yield address


def normal_request(address: tuple[str, int], timeout: float = 3.0) -> float:
    """GET /v2/ on a new connection, as a new client's first request; seconds, or `timeout` if it failed."""
    start = time.monotonic()
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")
            answer = sock.recv(64)
    except OSError:
        return timeout
    return time.monotonic() - start if answer.startswith(b"HTTP/1.1 401") else timeout


def open_connections(stack: ExitStack, address: tuple[str, int], count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = stack.enter_context(socket.create_connection(address, timeout=5))
        sockets.append(sock)
    return sockets


def seconds_until_closed(sock: socket.socket, trickle: bytes, interval: float, limit: float) -> tuple[float, bytes]:
    """Send `trickle` a byte every `interval` until the server closes the connection (or `limit` passes):
    how long that took, and what the server said."""
    start = time.monotonic()
    sock.settimeout(interval)
    answer = b""
    for byte in trickle:
        if time.monotonic() - start > limit:
            break
        try:
            sock.send(bytes([byte]))
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:   # reset after the answer
            return time.monotonic() - start, answer
        if not data:
            return time.monotonic() - start, answer
        answer += data
    return time.monotonic() - start, answer


def test_normal_requests_keep_answering_beside_idle_and_trickling_connections(server):  # type: ignore[no-untyped-def]
    with ExitStack() as stack:
        idle = open_connections(stack, server, 300)
        tricklers = open_connections(stack, server, 40)
        for sock in tricklers:
            sock.sendall(b"GET /v2/ HTTP/1.1\r\n")
        started = time.monotonic()
        samples: list[float] = []
        # Within the header deadline, so the crowd is still there; at most 2 s (a request that waits for a
        # thread takes 3 s).
        while len(samples) < 100 and time.monotonic() - started < min(2.0, HEADER_TIMEOUT - 0.5):
            for sock in tricklers[len(samples) % 4::4]:
                sock.send(b"X")          # a header byte now and then
            samples.append(normal_request(server))
        elapsed = time.monotonic() - started
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        assert len(samples) >= 20, f"{len(samples)} requests in {elapsed:.1f}s: {samples[-5:]}"
        assert p99 < 1.0, f"p99 {p99:.2f}s over {len(samples)} requests (slowest {samples[-5:]})"
        assert len(idle) == 300


def test_a_header_trickler_is_disconnected_after_the_header_deadline(server):  # type: ignore[no-untyped-def]
    with socket.create_connection(server, timeout=5) as sock:
        took, answer = seconds_until_closed(sock, b"GET /v2/ HTTP/1.1\r\nX-Slow: " + b"a" * 200, 0.25,
                                            HEADER_TIMEOUT + 3 * SLACK)
    assert HEADER_TIMEOUT - 0.5 <= took <= HEADER_TIMEOUT + SLACK, (took, answer)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_client_that_sends_nothing_is_disconnected_after_the_header_deadline(server):  # type: ignore[no-untyped-def]
    with socket.create_connection(server, timeout=HEADER_TIMEOUT + 3 * SLACK) as sock:
        start = time.monotonic()
        try:
            answer = sock.recv(64)
        except TimeoutError:
            answer = b"(still open)"
        took = time.monotonic() - start
    assert answer == b"" and HEADER_TIMEOUT - 0.5 <= took <= HEADER_TIMEOUT + SLACK, (took, answer)


@pytest.mark.parametrize("length", [1_000, 1_000_000], ids=["small body, held by the loop",
                                                             "large body, streamed in a thread"])
def test_a_body_trickler_is_disconnected_after_the_body_deadline(server, length):  # type: ignore[no-untyped-def]
    head = (f"POST /v2/auth HTTP/1.1\r\nHost: wharf\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(head + b"grant_type=password&")
        took, answer = seconds_until_closed(sock, b"a" * 200, 0.2, BODY_TIMEOUT + 3 * SLACK)
    assert took <= BODY_TIMEOUT + SLACK, (took, answer)
    assert took >= BODY_TIMEOUT - 0.5, (took, answer)
    assert normal_request(server) < 1.0   # and the server is none the worse for it


def test_normal_requests_keep_answering_beside_tricklers_of_large_form_and_manifest_bodies(server):  # type: ignore[no-untyped-def]
    """Bodies over the old 64 KiB buffer went to a thread: 32 of them, a byte a second, held all 16."""
    heads = [b"POST /v2/auth HTTP/1.1\r\nHost: wharf\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 100000\r\n\r\ngrant_type=password&",
             b"PUT /v2/alice/app/manifests/x HTTP/1.1\r\nHost: wharf\r\nContent-Length: 100000\r\n\r\n{"]
    with ExitStack() as stack:
        tricklers = open_connections(stack, server, 32)
        for index, sock in enumerate(tricklers):
            sock.sendall(heads[index % 2])
        started = time.monotonic()
        samples: list[float] = []
        # Within the body deadline, while every trickler is still there.
        while len(samples) < 100 and time.monotonic() - started < BODY_TIMEOUT - 0.5:
            for sock in tricklers[len(samples) % 4::4]:
                sock.send(b"a")
            samples.append(normal_request(server))
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        assert len(samples) >= 10, f"{len(samples)} requests: {samples[-5:]}"
        assert p99 < 1.0, f"p99 {p99:.2f}s over {len(samples)} requests (slowest {samples[-5:]})"


def test_an_upload_answered_without_reading_its_trickled_body_is_closed_at_once(server):  # type: ignore[no-untyped-def]
    """gunicorn drained the unread body after the 401, holding the thread while the client trickled."""
    head = (b"PATCH /v2/alice/app/blobs/uploads/0f6b3c5e HTTP/1.1\r\nHost: wharf\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n")
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(head + b"x" * 1000)
        took, answer = seconds_until_closed(sock, b"x" * 100, 0.1, 3 * SLACK)
    assert answer.startswith(b"HTTP/1.1 401"), answer
    assert took < 1.0, (took, answer)


def test_an_unread_body_held_by_the_loop_keeps_the_connection_alive(server):  # type: ignore[no-untyped-def]
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"PUT /v2/alice/app/manifests/x HTTP/1.1\r\nHost: wharf\r\nContent-Length: 100000\r\n\r\n"
                     + b"{" * 100_000 + b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 401") == 2, data


def test_an_expect_continue_body_off_the_upload_routes_is_continued_once_and_held_by_the_loop(server):  # type: ignore[no-untyped-def]
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"PUT /v2/alice/app/manifests/x HTTP/1.1\r\nHost: wharf\r\nExpect: 100-continue\r\n"
                     b"Connection: close\r\nContent-Length: 100000\r\n\r\n")
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{" * 100_000)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 401") and b"100 Continue" not in data, data


def test_a_tls_handshake_is_refused_at_once(server):  # type: ignore[no-untyped-def]
    """podman --tls-verify=false tries TLS first; the refusal must be quick for its fallback to HTTP."""
    with socket.create_connection(server, timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # the start of a ClientHello
        assert sock.recv(64) == b""
        assert time.monotonic() - start < 0.5


def test_a_pipelined_keep_alive_connection_is_answered_in_full(server):  # type: ignore[no-untyped-def]
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\n\r\n" * 2
                     + b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 401") == 3


def test_a_body_read_straight_from_the_socket_keeps_the_minimum_rate_and_the_callers_timeout():
    """The registry receives large blobs with recv_into under its own 120 s timeout (registry_api/bodies.py):
    the tighter body deadline applies, and the caller's timeout is back once the read returns."""
    from portal.gunicorn_worker import MeteredSocket

    ours, client = socket.socketpair()
    with client, MeteredSocket(ours.family, ours.type, ours.proto, fileno=ours.detach()) as sock:
        sock.settimeout(120)
        sock.limit(0.5, 1000.0)
        buffer = bytearray(4096)
        client.sendall(b"x" * 1000)            # one more second of allowance
        time.sleep(0.7)                        # the server is busy: the client is not slow for that
        assert sock.recv_into(buffer) == 1000
        assert sock.gettimeout() == 120
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv_into(buffer)             # nothing more comes
        assert 1.3 <= time.monotonic() - start <= 2.0
        sock.unlimit()
        client.sendall(b"y")
        assert sock.recv(1) == b"y" and sock.gettimeout() == 120


def test_the_oldest_held_body_is_shed_with_a_503_when_the_loops_buffers_are_full(django_db_setup):  # type: ignore[no-untyped-def]
    head = b"PUT /v2/alice/app/manifests/x HTTP/1.1\r\nHost: wharf\r\nContent-Length: 200000\r\n\r\n"
    with running_server(WEB_WORKERS="1", WEB_LOOP_BUFFER_TOTAL="250000") as address, ExitStack() as stack:
        first, second, third = open_connections(stack, address, 3)
        for sock in (first, second, third):   # 100 KB each: the third passes the 250 KB cap
            sock.sendall(head + b"{" * 100_000)
            time.sleep(0.3)
        assert first.recv(64).startswith(b"HTTP/1.1 503"), "the oldest is shed"
        for sock in (second, third):
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(64)   # still held, waiting for the rest of their bodies
        assert normal_request(address) < 1.0
