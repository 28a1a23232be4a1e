"""Request bodies read in chunks as they arrive: a blob is never held in memory whole."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from django.http import HttpRequest

from portal import metrics
from registry_api.errors import SizeInvalid

CHUNK_SIZE = 1 << 20
# Reading straight from the socket pays off for bodies of some size; small ones take the portable path.
DIRECT_MIN_SIZE = 256 << 10
RECV_TIMEOUT = 120.0
RING_SIZE = 4


class BodyTruncated(Exception):
    """The client sent fewer bytes than its Content-Length announced (or the connection dropped)."""


class RequestBody:
    def __init__(self, request: HttpRequest) -> None:
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        self._direct: tuple[socket.socket, Any, Any] | None = None
        self._input: Any = request.META.get("wsgi.input")
        if raw_length and not chunked:
            if not raw_length.isdigit():
                raise SizeInvalid("Content-Length is not a number")
            self.expected: int | None = int(raw_length)
            self._stream: BinaryIO = request  # type: ignore[assignment]  # Django's LimitedStream
            if self.expected >= DIRECT_MIN_SIZE:
                self._direct = _gunicorn_source(request, self.expected)
        elif chunked:
            # Django reads no body without a Content-Length; the server has already de-chunked wsgi.input.
            self.expected = None
            self._stream = request.META["wsgi.input"]
        else:
            self.expected = 0
            self._stream = request  # type: ignore[assignment]

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The body in pieces. A piece may be a view of a reused buffer: it stays valid until RING_SIZE - 1
        more pieces have been taken. What arrives counts as pushed (/metrics), once per body."""
        received = 0
        try:
            for piece in self._pieces():
                received += len(piece)
                yield piece
        finally:
            metrics.pushed(received)

    def _pieces(self) -> Iterator[bytes | memoryview]:
        if self._direct is not None:
            yield from _direct_chunks(*self._direct)
            return
        remaining = self.expected
        while remaining is None or remaining > 0:
            want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            try:
                data = self._stream.read(want)
            except OSError as exc:  # includes the server's "no more data" on a dropped connection
                raise BodyTruncated(str(exc)) from None
            if not data:
                if remaining is None:
                    return
                raise BodyTruncated(f"{remaining} bytes missing")
            if remaining is not None:
                remaining -= len(data)
            yield data

    def abandon(self) -> None:
        """The rest of the body will not be read: the server closes the connection after the answer instead
        of reading (up to gigabytes of) body that nobody wants to find where the next request starts."""
        if hasattr(self._input, "failed"):   # gunicorn's body; elsewhere the server decides
            self._input.failed = True

    def read_all(self, limit: int) -> bytes:
        """The whole body, for small documents (manifests); more than `limit` bytes raises OverflowError."""
        parts, total = [], 0
        for chunk in self.chunks():
            total += len(chunk)
            if total > limit:
                raise OverflowError(total)
            parts.append(bytes(chunk))
        return b"".join(parts)


def _gunicorn_source(request: HttpRequest, length: int) -> tuple[Any, Any, Any] | None:
    """gunicorn's socket and body objects, when this body can be received straight into our buffer.

    gunicorn's reader hands the body over through a chain of BytesIO buffers, copying every byte several
    times; for a 256 MiB layer that copying costs more CPU than the sha256. Anything unexpected about the
    objects (another server, another gunicorn version, a body partly read already) means None, and the
    portable path is used.
    """
    body: Any = request.META.get("wsgi.input")
    sock: Any = request.META.get("gunicorn.socket")
    reader: Any = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if sock is None or type(reader).__name__ != "LengthReader" or getattr(unreader, "sock", None) is not sock:
        return None
    if not hasattr(unreader, "take_buffered") or getattr(reader, "length", None) != length:
        return None
    if body.buf.tell() or not hasattr(body, "failed"):
        return None
    return sock, body, reader


_buffers = threading.local()


def _ring() -> list[memoryview]:
    """This thread's receive buffers. Allocating (and zeroing) 4 MiB per request cost more than receiving a
    4 MiB layer; a thread serves one request at a time, so it keeps its buffers."""
    ring: list[memoryview] | None = getattr(_buffers, "ring", None)
    if ring is None:
        ring = _buffers.ring = [memoryview(bytearray(CHUNK_SIZE)) for _ in range(RING_SIZE)]
    return ring


def _direct_chunks(sock: socket.socket, body: Any, reader: Any) -> Iterator[bytes | memoryview]:
    remaining = reader.length
    pending = reader.unreader.take_buffered()   # bytes gunicorn read ahead with the headers
    if len(pending) > remaining:                # a pipelined next request: give it back
        reader.unreader.unread(pending[remaining:])
        pending = pending[:remaining]
    # From here the body's bytes are ours. Until the last one arrives the connection must not be reused.
    reader.length = 0
    body.failed = True
    if pending:
        remaining -= len(pending)
        yield pending
    ring = _ring()
    previous_timeout = sock.gettimeout()
    sock.settimeout(RECV_TIMEOUT)
    try:
        for turn in itertools.count():
            if remaining <= 0:
                break
            view = ring[turn % len(ring)]
            want, filled = min(CHUNK_SIZE, remaining), 0
            while filled < want:
                received = sock.recv_into(view[filled:want])
                if not received:
                    raise BodyTruncated(f"{remaining - filled} bytes missing")
                filled += received
            remaining -= filled
            yield view[:filled]
    except OSError as exc:   # timeouts and resets
        raise BodyTruncated(str(exc)) from None
    finally:
        sock.settimeout(previous_timeout)
    body.failed = False
