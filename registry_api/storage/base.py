"""The storage protocol: a dumb byte store. Digest checks and repository links live in services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol


class KeyBusy(Exception):
    """Another writer holds the key."""


class BlobWriter(Protocol):
    """Appends to one key, which it holds exclusively until closed. `size` counts every byte in the
    object, including those before this writer."""

    size: int

    def write(self, data: bytes | memoryview) -> None: ...

    def truncate(self, size: int) -> None:
        """Drop everything after `size` and continue writing there."""

    def flush(self) -> None:
        """Make every byte written so far durable: after it returns, another process (or node) that opens a
        writer on the key finds them, even if this one dies. The service calls it before it commits a
        length. Files need nothing (the kernel has the bytes); object stores buffer a tail."""

    def readback(self) -> BinaryIO:
        """Everything written so far, from the first byte, as a readable file; the writer still holds the
        key. (An object store cannot read parts of an upload in progress, so it completes them first.)"""

    def close(self) -> None: ...


class StorageBackend(Protocol):
    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """A readable file positioned at `offset`; FileNotFoundError if the key does not exist."""

    def writer(self, key: str, offset: int = 0) -> BlobWriter:
        """Write at `offset`, first dropping any bytes after it (debris of an interrupted request).
        Raises KeyBusy while another writer holds the key."""

    def size(self, key: str) -> int | None:
        """The object's length, or None if it does not exist."""

    def move(self, src: str, dst: str) -> None:
        """Atomically put `src` at `dst`. An existing `dst` is kept and `src` dropped: content-addressed
        keys hold equal bytes, and a blob others already read must never be swapped under them."""

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""

    def walk(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with `prefix`."""

    def redirect_url(self, key: str, method: str = "GET") -> str | None:
        """A URL the client may fetch directly (object stores), or None to serve the bytes ourselves."""


def blob_key(digest: str) -> str:
    algorithm, encoded = digest.split(":", 1)
    return f"blobs/{algorithm}/{encoded[:2]}/{encoded}"


def upload_key(upload_id: object) -> str:
    return f"uploads/{upload_id}"
