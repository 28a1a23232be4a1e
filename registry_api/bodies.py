"""Request bodies read in chunks as they arrive: a blob is never held in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from django.http import HttpRequest

from registry_api.errors import SizeInvalid

CHUNK_SIZE = 1 << 20


class BodyTruncated(Exception):
    """The client sent fewer bytes than its Content-Length announced (or the connection dropped)."""


class RequestBody:
    def __init__(self, request: HttpRequest) -> None:
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if raw_length and not chunked:
            if not raw_length.isdigit():
                raise SizeInvalid("Content-Length is not a number")
            self.expected: int | None = int(raw_length)
            self._stream: BinaryIO = request  # type: ignore[assignment]  # Django's LimitedStream
        elif chunked:
            # Django reads no body without a Content-Length; the server has already de-chunked wsgi.input.
            self.expected = None
            self._stream = request.META["wsgi.input"]
        else:
            self.expected = 0
            self._stream = request  # type: ignore[assignment]

    def chunks(self) -> Iterator[bytes]:
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

    def read_all(self, limit: int) -> bytes:
        """The whole body, for small documents (manifests); more than `limit` bytes raises OverflowError."""
        parts, total = [], 0
        for chunk in self.chunks():
            total += len(chunk)
            if total > limit:
                raise OverflowError(total)
            parts.append(chunk)
        return b"".join(parts)
