"""A gunicorn thread worker whose threads never wait for a slow client's request headers.

gunicorn's gthread worker hands every new connection to a thread, which waits up to 5 s for the first byte
(twice) and then reads the headers without a deadline. Measured against `make run` (2 workers × 8 threads):
2,000 connections that send nothing made every other client's `GET /v2/` time out after 10 s, and 20-40
that send a header byte a second timed out 4 requests in 5.

Here the worker's selector loop owns a connection until its request is ready: it reads the headers (and a
small body) without blocking, closes connections that miss the header deadline, and only then hands the
connection and the bytes read to a thread, which parses them with gunicorn's own parser. The loop holds
a body of known length up to WHARF_MAX_MANIFEST_BYTES (4 MiB: the largest body any view other than a blob
upload accepts), so a login form or a manifest trickled a byte a second costs no thread; on those routes
it answers `Expect: 100-continue` itself. Blob uploads (GiB), chunked bodies and larger ones stream in
the thread (read from wsgi.input), where the socket itself keeps a minimum rate: the thread may wait for
the client WEB_BODY_TIMEOUT plus one second per WEB_BODY_MIN_RATE bytes received (Apache's mod_reqtimeout
rule), so a trickling uploader is cut off instead of holding the thread for good (a client that keeps that
rate still holds one: a thread is what reads wsgi.input). A body the view did not read is not waited for
after the response: what has arrived is discarded, and if more is due the connection closes.

What the loop holds is capped per worker (WEB_LOOP_BUFFER_TOTAL, 256 MiB): a read that would pass the cap
first sheds the oldest connections holding body bytes, with a 503.

It still refuses a TLS handshake at once: podman and skopeo run with --tls-verify=false try TLS first and
fall back to plain HTTP only when that attempt fails. A TLS record starts with byte 0x16, which no HTTP
request line does, so such a connection is closed on its first byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import socket
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

TLS_HANDSHAKE = 0x16
HEADER_END = b"\r\n\r\n"
READ_SIZE = 64 * 1024
# Headers larger than this go to a thread unparsed (still under the header deadline), where gunicorn's
# limits answer them; legitimate requests here are a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
# Connections accepted per readable event: a burst of new clients is taken in a few loop turns.
ACCEPT_BATCH = 64
# Deadlines are checked this often (a sweep over 2,000 waiting connections takes ~0.3 ms).
SWEEP_INTERVAL = 0.25
# How long a closed connection waits for the client's FIN (gunicorn's close_graceful waits as long).
LINGER = 2.0
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n")
# The request line of a blob upload's body (POST starts a monolithic one, PATCH and PUT send chunks): these
# stream in a thread, whatever their size. Matched on the lowered head.
BLOB_UPLOAD = re.compile(rb"^(?:patch|put|post) [^ ]*/blobs/uploads/")
# gunicorn answers only this expectation, and only for HTTP/1.1 (anything else gets its 417, or is ignored).
EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*\r\n")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
OVERLOADED = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n"
              b"Content-Length: 0\r\n\r\n")


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


class MeteredSocket(socket.socket):
    """A client socket whose reads, while a limit is set, may wait for the client `grace + received / rate`
    seconds in all (rate 0: `grace`); a read past that raises TimeoutError.

    Only time spent waiting in a read counts, not wall time: a request queued for a free thread, or a view
    busy before it reads the body, is the server's delay, not the client's."""

    _grace = 0.0
    _rate = 0.0
    _received = 0
    _waited = 0.0
    _limited = False
    _nowait = False           # draining: read only what has arrived (see PlainHTTPWorker._keepalive_after)
    _continue_sent = False    # the loop sent "100 Continue": gunicorn's own is not sent again

    def limit(self, grace: float, rate: float, received: int = 0, waited: float = 0.0) -> None:
        self._grace, self._rate, self._received, self._waited = grace, rate, received, waited
        self._limited = True

    def unlimit(self) -> None:
        self._limited = self._nowait = self._continue_sent = False

    def continue_sent(self) -> None:
        self._continue_sent = True

    @contextlib.contextmanager
    def without_waiting(self) -> Iterator[None]:
        self._nowait = True
        try:
            yield
        finally:
            self._nowait = False

    def send(self, data: Any, flags: int = 0) -> int:
        if self._continue_sent and len(data) == len(CONTINUE) and bytes(data) == CONTINUE:
            # gunicorn writes its "100 Continue" as it builds the environ (gunicorn/http/wsgi.py); a second
            # one would be legal (RFC 9110 section 15.2) but is noise to the client.
            self._continue_sent = False
            return len(data)
        return super().send(data, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._nowait:
            return bytes(self._now(super().recv, bufsize, flags))
        if not self._limited:
            return super().recv(bufsize, flags)
        data: bytes = self._bounded(super().recv, bufsize, flags)
        self._received += len(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self._nowait:
            return int(self._now(super().recv_into, buffer, nbytes, flags))
        if not self._limited:
            return super().recv_into(buffer, nbytes, flags)
        received: int = self._bounded(super().recv_into, buffer, nbytes, flags)
        self._received += received
        return received

    def _now(self, read: Any, *args: Any) -> Any:
        """A read that does not wait: nothing arrived yet is a timeout, which gunicorn's drain understands.
        (MSG_DONTWAIT alone would not do: a socket with a timeout polls before it reads.)"""
        previous = self.gettimeout()
        super().settimeout(0.0)
        try:
            return read(*args)
        except (BlockingIOError, InterruptedError):
            raise TimeoutError(errno.ETIMEDOUT, "the rest of the request body has not arrived") from None
        finally:
            super().settimeout(previous)

    def _bounded(self, read: Any, *args: Any) -> Any:
        remaining = self._grace + (self._received / self._rate if self._rate else 0.0) - self._waited
        if remaining <= 0:
            raise TimeoutError(errno.ETIMEDOUT, "the client sent its request too slowly")
        previous = self.gettimeout()
        started = time.monotonic()
        try:
            if previous is not None and previous <= remaining:
                return read(*args)      # the caller's own timeout is the tighter one (registry bodies: 120 s)
            super().settimeout(remaining)
            try:
                return read(*args)
            finally:
                super().settimeout(previous)   # sendfile and sendall keep the caller's (blocking) mode
        finally:
            self._waited += time.monotonic() - started


class WaitingConn(TConn):  # type: ignore[misc]  # gunicorn is untyped
    """A connection the selector loop holds until its request (headers and a small body) has arrived."""

    def __init__(self, cfg: Any, sock: MeteredSocket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.buf = bytearray()
        self.deadline = 0.0         # the header deadline (idle: the keep-alive expiry; closing: the linger's)
        self.idle = False           # kept alive, no byte of the next request yet
        self.closing = False        # response sent, write side shut: waiting for the client's FIN
        self.head_end = 0           # bytes of headers, once complete
        self.need = 0               # bytes to hold before a thread takes over, once the headers are complete
        self.body_start = 0.0

    def expiry(self, body_timeout: float, body_rate: float) -> float:
        if not self.head_end:
            return self.deadline
        received = len(self.buf) - self.head_end
        return self.body_start + body_timeout + (received / body_rate if body_rate else 0.0)


class PlainHTTPWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    def init_process(self) -> None:
        # Read here (not at import) so that the tests' servers and `make run` take them from their env.
        self.header_timeout = env_float("WEB_HEADER_TIMEOUT", 10.0)
        self.body_timeout = env_float("WEB_BODY_TIMEOUT", 20.0)
        self.body_rate = env_float("WEB_BODY_MIN_RATE", 500.0)
        self.body_buffer = int(env_float("WEB_BODY_BUFFER", 64 * 1024))
        # Not from Django's settings: this module is imported by the gunicorn master, before Django is set up.
        self.max_body_held = max(self.body_buffer, int(env_float("WHARF_MAX_MANIFEST_BYTES", 4 * 1024 * 1024)))
        self.buffer_total = int(env_float("WEB_LOOP_BUFFER_TOTAL", 256 * 1024 * 1024))
        self.held = 0                                 # bytes in the buffers of the connections in `waiting`
        self.waiting: dict[WaitingConn, None] = {}   # insertion order: the oldest first
        self.next_sweep = 0.0
        super().init_process()

    # Accepting: the loop keeps the connection; no thread is involved until a request is ready.

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        for _ in range(ACCEPT_BATCH):
            try:
                fd, client = listener._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self.waiting:
                    self.shed(1)   # out of descriptors: the longest-waiting slow client makes room
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EMFILE, errno.ENFILE):
                    return
                raise
            sock = MeteredSocket(listener.family, listener.type, listener.proto, fileno=fd)
            self.nr_conns += 1
            conn = WaitingConn(self.cfg, sock, client, listener.getsockname())
            conn.deadline = time.monotonic() + self.header_timeout
            self.wait_for_request(conn)

    def wait_for_request(self, conn: WaitingConn) -> None:
        conn.sock.setblocking(False)
        self.waiting[conn] = None
        self.held += len(conn.buf)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))
        if conn.buf:
            self.advance(conn)   # a pipelined request read ahead with the previous one

    def on_request_bytes(self, conn: WaitingConn, _fileobj: Any) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or (not conn.buf and not conn.closing and data[0] == TLS_HANDSHAKE):
            self.drop(conn)   # closed by the client, or a TLS ClientHello: the client falls back to HTTP
            return
        if conn.closing:
            return   # what a closing client still sends is dropped until its FIN or the linger's end
        if conn.idle:
            # The first byte of a kept-alive connection's next request starts its header deadline.
            conn.idle, conn.deadline = False, time.monotonic() + self.header_timeout
        if self.held + len(data) > self.buffer_total and not self.make_room(conn, len(data)):
            self.refuse(conn, OVERLOADED)
            return
        conn.buf += data
        self.held += len(data)
        self.advance(conn)

    def make_room(self, reader: WaitingConn, size: int) -> bool:
        """Whether `size` more bytes fit under WEB_LOOP_BUFFER_TOTAL once the oldest connections holding
        body bytes (not `reader`) are shed, with a 503.

        Only body holders are shed: the budget is 10,000 connections × 64 KiB of headers at worst, so a
        crowd of oversized headers cannot be made room for; the reader is refused instead. A client shed
        mid-body has waited longest and can retry; the ones with complete headers and a small body are
        the requests most likely to finish."""
        for conn in [conn for conn in self.waiting if conn is not reader and conn.head_end
                     and len(conn.buf) > conn.head_end]:
            if self.held + size <= self.buffer_total:
                break
            self.refuse(conn, OVERLOADED)
        return self.held + size <= self.buffer_total

    def refuse(self, conn: WaitingConn, answer: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(answer)
        self.drop(conn)

    def advance(self, conn: WaitingConn) -> None:
        if not conn.head_end:
            end = conn.buf.find(HEADER_END)
            if end < 0:
                if len(conn.buf) > MAX_HEADER_BYTES:
                    self.dispatch(conn)
                return
            conn.head_end = end + len(HEADER_END)
            conn.need = conn.head_end + self.body_to_hold(conn, bytes(conn.buf[:conn.head_end]).lower())
            conn.body_start = time.monotonic()
        if len(conn.buf) >= conn.need:
            self.dispatch(conn)

    def body_to_hold(self, conn: WaitingConn, head: bytes) -> int:
        """How much of the body the loop reads before a thread takes over: a body of known length up to
        WEB_BODY_BUFFER for a blob upload, up to WHARF_MAX_MANIFEST_BYTES for anything else.

        A chunked body's length is unknown, and a blob upload's may be GiB: those stream in the thread,
        as do larger bodies (which the views refuse unread). A request with `Expect: 100-continue` waits
        for "100 Continue": the loop sends it when it holds the body, as gunicorn would before the view
        runs (so it promises nothing more); otherwise, and when the send does not go through at once, the
        thread's gunicorn sends it."""
        if b"\r\ntransfer-encoding:" in head:
            return 0
        match = CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        limit = self.body_buffer if BLOB_UPLOAD.match(head) else self.max_body_held
        if length > limit:
            return 0
        if b"\r\nexpect:" in head and not self.send_continue(conn, head):
            return 0   # not ours to answer: the thread's gunicorn does
        return length

    def send_continue(self, conn: WaitingConn, head: bytes) -> bool:
        if not EXPECT_CONTINUE.search(head) or not head.split(b"\r\n", 1)[0].endswith(b" http/1.1"):
            return False
        try:
            sent = conn.sock.send(CONTINUE)
        except OSError:
            return False
        if sent != len(CONTINUE):
            return False   # never on a new connection's empty send buffer; the thread would send a partial
        conn.sock.continue_sent()
        return True

    def dispatch(self, conn: WaitingConn) -> None:
        """Hand the connection and what the loop read of its request to a thread."""
        self.poller.unregister(conn.sock)
        del self.waiting[conn]
        self.held -= len(conn.buf)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(conn.buf))
        now = time.monotonic()
        if conn.head_end:   # the body's allowance, less what the loop already waited for it
            conn.sock.limit(self.body_timeout, self.body_rate, len(conn.buf) - conn.head_end, now - conn.body_start)
        else:   # oversized headers: the thread reads the rest under the same header deadline
            conn.sock.limit(conn.deadline - now, 0.0)
        conn.buf, conn.head_end, conn.need = bytearray(), 0, 0
        self.enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        try:
            return super().handle(conn)
        finally:
            if isinstance(conn.sock, MeteredSocket):
                conn.sock.unlimit()

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """After the response: whether the connection can take another request.

        gunicorn drains a body the view did not read, waiting up to 5 s for it, so a client that sends
        headers and trickles its body held a thread after a 401 it never read; a few new ones a second
        kept every thread busy. Here the drain takes only what has arrived (the loop's held body, what
        the kernel has): if more is due, the connection closes (the loop lingers for the client's FIN)."""
        if not keepalive or not isinstance(conn.sock, MeteredSocket):
            return bool(super()._keepalive_after(conn, keepalive))
        with conn.sock.without_waiting():
            # The byte cap stops a fast client streaming forever into a drain that never waits.
            return bool(conn.parser.finish_body(max_bytes=self.max_body_held + READ_SIZE))

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A thread is done with a request: a kept-alive connection goes back to the loop."""
        if not isinstance(conn, WaitingConn):
            super().finish_request(conn, fs)
            return
        try:
            keepalive = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keepalive = False
        if not keepalive or not self.alive:
            self.linger(conn)
            return
        # A body drain can read ahead into the next request: those bytes start it.
        conn.buf = bytearray(conn.parser.unreader.take_buffered())
        conn.idle = not conn.buf
        conn.deadline = time.monotonic() + (self.cfg.keepalive if conn.idle else self.header_timeout)
        self.wait_for_request(conn)

    def linger(self, conn: WaitingConn) -> None:
        """Close after the response: the write side at once, the socket when the client has closed too.

        gunicorn's close_graceful waits for that (up to 2 s) on the loop's own thread, where one client that
        keeps its connection open after "Connection: close" would stall every other connection; here the
        loop waits for the client's FIN like for any other byte (RFC 9112 section 9.6: no RST that could
        cut the response short)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            conn.close()
            return
        conn.closing, conn.buf = True, bytearray()
        conn.deadline = time.monotonic() + LINGER
        self.wait_for_request(conn)

    # Deadlines: every waiting connection is checked a few times a second.

    def murder_pending(self) -> None:
        super().murder_pending()
        if not self.alive:   # stopping: nobody waits for a request that has not come
            for conn in [conn for conn in self.waiting if not conn.closing]:
                self.drop(conn)
        excess = self.nr_conns - self.worker_connections + 1
        if excess > 0 and self.alive:
            self.shed(excess)   # full: the oldest waiting connections make room for new clients
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_INTERVAL
        expired = [conn for conn in self.waiting if conn.expiry(self.body_timeout, self.body_rate) <= now]
        for conn in expired:
            if conn.buf:   # a request begun and not finished in time: tell the client why
                with contextlib.suppress(OSError):
                    conn.sock.send(REQUEST_TIMEOUT)
            self.drop(conn)

    def shed(self, count: int) -> None:
        for conn in list(self.waiting)[:count]:
            self.drop(conn)

    def drop(self, conn: WaitingConn) -> None:
        if conn in self.waiting:
            del self.waiting[conn]
            self.held -= len(conn.buf)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
