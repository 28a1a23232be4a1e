"""Blobs as files under one root. Reads go out with sendfile because `open` returns a real file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from registry_api.storage.base import KeyBusy


class FileWriter:
    def __init__(self, path: Path, offset: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            # Two requests on one upload must not interleave their bytes in one file.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KeyBusy(str(path)) from None
        self._file = os.fdopen(fd, "wb", buffering=0)
        self.truncate(offset)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._file.fileno(), size)
        os.lseek(self._file.fileno(), size, os.SEEK_SET)
        self.size = size

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            assert written is not None
            view = view[written:]
        self.size += len(data)

    def close(self) -> None:
        self._file.close()


class FilesystemStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        f = open(self._path(key), "rb")  # noqa: SIM115 (the caller owns the file)
        if offset:
            f.seek(offset)
        return f

    def writer(self, key: str, offset: int = 0) -> FileWriter:
        return FileWriter(self._path(key), offset)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)   # fails rather than replace an existing object
        except FileExistsError:
            pass
        except OSError:               # a filesystem without hard links
            if not target.exists():
                os.replace(source, target)
                return
        source.unlink()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def walk(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                key = os.path.relpath(os.path.join(directory, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    yield key

    def redirect_url(self, key: str, method: str = "GET") -> str | None:
        return None
