"""A gunicorn thread worker that refuses a TLS handshake at once.

podman and skopeo run with --tls-verify=false try TLS first and fall back to plain HTTP only when that
attempt fails. Plain gunicorn reads the ClientHello as the start of a request line and waits for the rest
until its timeout, so every client command would stall for seconds. A TLS record starts with byte 0x16
(handshake), which no HTTP request line does: such a connection is closed before any parsing.
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, ThreadWorker

TLS_HANDSHAKE = b"\x16"


class PlainHTTPWorker(ThreadWorker):
    def handle(self, conn: Any) -> Any:
        if not conn.initialized and conn.wait_for_data(DEFAULT_WORKER_DATA_TIMEOUT):
            try:
                first = conn.sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                first = b""
            except OSError:
                return False
            if first == TLS_HANDSHAKE:
                return False   # gunicorn closes the connection; the client falls back to HTTP
        return super().handle(conn)
