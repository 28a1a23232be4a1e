"""Blobs in a dict: for tests that want no disk, and the simplest reference for the contract."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import BinaryIO

from registry_api.storage.base import KeyBusy


class MemoryWriter:
    def __init__(self, store: MemoryStorage, key: str, offset: int) -> None:
        self._store, self._key = store, key
        with store.lock:
            if key in store.writing:
                raise KeyBusy(key)
            store.writing.add(key)
        self.truncate(offset)

    def truncate(self, size: int) -> None:
        with self._store.lock:
            self._store.objects[self._key] = bytearray(self._store.objects.get(self._key, bytearray())[:size])
        self.size = size

    def write(self, data: bytes | memoryview) -> None:
        with self._store.lock:
            self._store.objects[self._key] += data
        self.size += len(data)

    def flush(self) -> None:
        pass

    def readback(self) -> BinaryIO:
        with self._store.lock:
            return io.BytesIO(bytes(self._store.objects[self._key]))

    def close(self) -> None:
        with self._store.lock:
            self._store.writing.discard(self._key)


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytearray] = {}
        self.writing: set[str] = set()
        self.lock = threading.Lock()

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        with self.lock:
            if key not in self.objects:
                raise FileNotFoundError(key)
            f = io.BytesIO(bytes(self.objects[key]))
        f.seek(offset)
        return f

    def writer(self, key: str, offset: int = 0) -> MemoryWriter:
        return MemoryWriter(self, key, offset)

    def size(self, key: str) -> int | None:
        with self.lock:
            data = self.objects.get(key)
        return None if data is None else len(data)

    def move(self, src: str, dst: str) -> None:
        with self.lock:
            data = self.objects.pop(src)
            self.objects.setdefault(dst, data)

    def delete(self, key: str) -> None:
        with self.lock:
            self.objects.pop(key, None)

    def walk(self, prefix: str = "") -> Iterator[str]:
        with self.lock:
            keys = sorted(self.objects)
        return (key for key in keys if key.startswith(prefix))

    def redirect_url(self, key: str, method: str = "GET") -> str | None:
        return None
