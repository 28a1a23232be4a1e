"""Real receivers on loopback for the notification tests: an HTTP server answering from a script (a status, or
"hang"), a webhook receiver's verification as the README shows it, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next item of `script` (then 200): a status code, or "hang" (no answer until
    the test ends)."""

    script: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def receiver(*script: int | str, path: str = "/hook") -> Iterator[Receiver]:
    state = Receiver(list(script))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:   # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(dict(self.headers.items()), body, time.time()))
            answer = state.script.pop(0) if state.script else 200
            if answer == "hang":
                state.release.wait(30)
                return
            assert isinstance(answer, int)
            self.send_response(answer)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(f"answer {answer}".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


# --- What a receiver does (the README's ten lines) ---------------------------------------------------------------

def verify(secret: str, headers: dict[str, str], body: bytes, seen: set[str], tolerance: int = 300) -> str:
    """"ok", or why the request is refused: bad signature, stale timestamp, or a replayed delivery id."""
    timestamp = headers["X-Wharf-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers["X-Wharf-Signature-256"]):
        return "bad signature"
    if abs(time.time() - int(timestamp)) > tolerance:
        return "stale"
    if headers["X-Wharf-Delivery"] in seen:
        return "replay"
    seen.add(headers["X-Wharf-Delivery"])
    return "ok"


# --- SMTP ------------------------------------------------------------------------------------------------------

class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:   # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    from tests.conftest import free_port

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
