"""Index one layer blob: read it once as a stream, keep only what a scanner needs, write nothing anywhere.

The blob may be gzip, zstd or a plain tar (told by its magic bytes; the media type is only a hint). Every
entry is counted; only package databases, package metadata and os-release are read into memory, each within
its limits; everything else is skipped by decompressing past it. Paths are keys, never opened: a hostile
name is normalised (`../x` and `/x` both become `x`) or dropped (NUL), and a link is recorded, never followed.

Sizes: `max_layer_size` bounds the bytes of the uncompressed tar stream, the figure a decompression bomb
inflates. A GNU/pax sparse entry counts with the bytes it stores, not its apparent size: its holes are never
produced, and unless it is a package file (then its apparent size must fit `max_file_size`) it is never read.
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import zstandard

from scanning.limits import LayerError, Limits, MiB
from scanning.packages import OS_RELEASE_PATHS, Package, classify, parse, parse_os_release

__all__ = ["LayerError", "LayerIndex", "Limits", "PackageFile", "index_layer"]

INDEX_FORMAT = 1
_CHUNK = 1 * MiB
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
_CORRUPT_HEADER = (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError)  # type: ignore[attr-defined]
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass
class PackageFile:
    kind: str                    # dpkg | apk | rpm | python | npm | npm-lock
    packages: list[Package]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "packages": [package.to_dict() for package in self.packages]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackageFile:
        return cls(data["kind"], [Package.from_dict(package) for package in data["packages"]])


@dataclass
class LayerIndex:
    """What one layer holds for a scanner; cached per layer digest as to_json()."""

    files: dict[str, PackageFile] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)       # paths this layer deletes from the layers below
    opaque_dirs: list[str] = field(default_factory=list)     # dirs whose lower contents this layer hides
    links: dict[str, str] = field(default_factory=dict)      # package-file paths that are links here: target
    os_release_files: dict[str, dict[str, str]] = field(default_factory=dict)
    size: int = 0                                            # bytes of the uncompressed tar stream
    entries: int = 0

    @property
    def os_release(self) -> dict[str, str]:
        """This layer's own os-release: /etc/os-release, else /usr/lib/os-release (os-release(5))."""
        for path in OS_RELEASE_PATHS:
            if path in self.os_release_files:
                return self.os_release_files[path]
        return {}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "files": {path: package_file.to_dict() for path, package_file in sorted(self.files.items())},
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "links": self.links,
            "os_release_files": self.os_release_files,
            "size": self.size,
            "entries": self.entries,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerIndex:
        if data.get("format") != INDEX_FORMAT:
            raise ValueError(f"layer index format {data.get('format')!r}, expected {INDEX_FORMAT}")
        return cls(
            files={path: PackageFile.from_dict(value) for path, value in data["files"].items()},
            whiteouts=list(data["whiteouts"]),
            opaque_dirs=list(data["opaque_dirs"]),
            links=dict(data["links"]),
            os_release_files={path: dict(value) for path, value in data["os_release_files"].items()},
            size=int(data["size"]),
            entries=int(data["entries"]),
        )


def index_layer(stream: BinaryIO, media_type: str, limits: Limits) -> LayerIndex:
    """Read the layer blob once; LayerError(reason) past a limit or on a corrupt or truncated blob."""
    chunks, compression = _decompressed(stream)
    reader = _ForwardReader(chunks, limits.max_layer_size)
    try:
        return _index_tar(reader, limits)
    except LayerError:
        raise
    except (tarfile.TarError, EOFError) as exc:
        raise LayerError(f"corrupt tar ({compression} blob, media type {media_type or 'unknown'}): {exc}") from None
    except (zlib.error, zstandard.ZstdError) as exc:
        raise LayerError(f"corrupt compressed stream: {exc}") from None


def _index_tar(reader: _ForwardReader, limits: Limits) -> LayerIndex:
    index = LayerIndex()
    tarinfo = type("_LimitedTarInfo", (_BoundedTarInfo,), {"limits": limits})
    with tarfile.TarFile(fileobj=reader, mode="r", tarinfo=tarinfo) as archive:  # type: ignore[arg-type]
        _walk(archive, index, limits)
    reader.drain()     # the rest (tar padding, the gzip trailer) is read too, so a truncated blob is caught
    index.size = reader.produced
    return index


def _walk(archive: tarfile.TarFile, index: LayerIndex, limits: Limits) -> None:
    read_total = 0
    while (member := archive.next()) is not None:
        archive.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every member; a million entries must not
        index.entries += 1
        if index.entries > limits.max_entries:
            raise LayerError(f"more than {limits.max_entries} entries")
        path = normalize(member.name)
        if path is None:
            continue
        directory, base = posixpath.split(path)
        if base.startswith(WHITEOUT_PREFIX):
            _record_whiteout(index, directory, base)
            continue
        kind = classify(path)
        if kind is None:
            continue
        if member.issym() or member.islnk():
            index.links[path] = member.linkname.encode("utf-8", "replace").decode("utf-8").replace("\0", "")
            continue
        if not member.isreg():
            continue
        if member.size > limits.max_file_size:
            raise LayerError(f"{path}: {member.size} bytes, over the {limits.max_file_size} byte limit per file")
        read_total += member.size
        if read_total > limits.max_read_total:
            raise LayerError(f"package files over {limits.max_read_total} bytes in one layer")
        data = _read_member(archive, member)
        if kind == "os-release":
            index.os_release_files[path] = parse_os_release(data, path, limits)
        else:
            index.files[path] = PackageFile(kind, parse(kind, data, path, limits))


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = archive.extractfile(member)
    if extracted is None:
        return b""
    with extracted:
        data = extracted.read()
    if len(data) != member.size:
        raise LayerError(f"{member.name}: truncated ({len(data)} of {member.size} bytes)")
    return data


def _record_whiteout(index: LayerIndex, directory: str, base: str) -> None:
    if base == OPAQUE_MARKER:
        index.opaque_dirs.append(directory)
    elif not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):   # .wh..wh.plnk etc.: aufs internals
        index.whiteouts.append(posixpath.join(directory, base[len(WHITEOUT_PREFIX):]))


def normalize(name: str) -> str | None:
    """A tar member name as a relative key under the image root, or None for a name that cannot be one."""
    if "\0" in name or not name:
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None              # undecodable bytes (kept as surrogates by tarfile) cannot be a JSON key
    path = posixpath.normpath("/" + name).lstrip("/")   # "/.." is "/": no name climbs above the root
    return path if path and path != "." else None


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads long-name, pax and sparse-map headers whole into memory: refuse oversized ones, and
    turn a corrupt header in the middle (which tarfile would take for the end) into an error."""

    limits: Limits = Limits()

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> _BoundedTarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except _CORRUPT_HEADER as exc:
            if tarfile_.offset:
                raise LayerError(f"corrupt tar header at byte {tarfile_.offset}: {exc}") from None
            raise

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        header_types = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                        tarfile.SOLARIS_XHDTYPE)
        if self.type in header_types and self.size > self.limits.max_header_size:
            raise LayerError(f"a {self.size} byte tar extended header, over {self.limits.max_header_size}")
        return super()._proc_member(tarfile_)  # type: ignore[misc]

    def _proc_gnusparse_10(self, next_: tarfile.TarInfo, pax_headers: dict[str, str],
                           tarfile_: tarfile.TarFile) -> None:
        if int(pax_headers.get("GNU.sparse.numblocks", "0") or 0) > 100_000:
            raise LayerError("a sparse map of more than 100000 blocks")
        super()._proc_gnusparse_10(next_, pax_headers, tarfile_)  # type: ignore[misc]


def _decompressed(stream: BinaryIO) -> tuple[Iterator[bytes], str]:
    """The magic bytes decide: registries do hold plain tars under a gzip media type."""
    head = stream.read(4)
    if head.startswith(_GZIP_MAGIC):
        return _gunzip(head, stream), "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return _unzstd(head, stream), "zstd"
    return _plain(head, stream), "uncompressed"


def _plain(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    yield head
    while chunk := stream.read(_CHUNK):
        yield chunk


def _gunzip(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """zlib in bounded steps (never more than _CHUNK out per call), one member after another."""
    decompressor = zlib.decompressobj(wbits=31)
    pending = head
    while True:
        if not pending:
            pending = stream.read(_CHUNK)
            if not pending:
                if not decompressor.eof:
                    raise LayerError("truncated gzip stream")
                return
        out = decompressor.decompress(pending, _CHUNK)
        pending = decompressor.unconsumed_tail
        if out:
            yield out
        if decompressor.eof:
            pending = decompressor.unused_data + pending
            if not pending[:1]:
                pending = stream.read(_CHUNK)
            if not pending.startswith(_GZIP_MAGIC[:1]):
                return           # trailing bytes after the last member are ignored, as gzip -d does
            decompressor = zlib.decompressobj(wbits=31)


def _unzstd(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    # The default window limit (128 MiB) refuses frames that would make the decompressor itself a memory bomb.
    reader = zstandard.ZstdDecompressor().stream_reader(
        _Prefixed(head, stream), read_size=_CHUNK, read_across_frames=True)  # type: ignore[arg-type]
    while chunk := reader.read(_CHUNK):
        yield chunk


class _Prefixed:
    """The stream with the magic bytes already read put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head + (self.stream.read(size - len(head)) if size > len(head) else b"")
        return self.stream.read(size)


class _ForwardReader:
    """A file object over decompressed chunks that only moves forward: seek() ahead skips without copying.
    tarfile in random-access mode needs no more, and this spares its stream mode's per-header copies."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self.chunks, self.limit = chunks, limit
        self.chunk, self.at = b"", 0       # current chunk and the position inside it
        self.produced = 0                  # bytes decompressed so far
        self.position = 0

    def _next_chunk(self) -> bool:
        for chunk in self.chunks:
            if chunk:
                self.produced += len(chunk)
                if self.produced > self.limit:
                    raise LayerError(f"uncompressed layer over the {self.limit} byte limit")
                self.chunk, self.at = chunk, 0
                return True
        self.chunk, self.at = b"", 0
        return False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("unbounded read")
        parts = []
        while size > 0:
            if self.at >= len(self.chunk) and not self._next_chunk():
                break
            take = self.chunk[self.at:self.at + size]
            self.at += len(take)
            size -= len(take)
            parts.append(take)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self.position + offset
        if whence not in (0, 1) or target < self.position:
            raise LayerError("tar asked to seek backwards in a stream")
        remaining = target - self.position
        while remaining > 0:
            if self.at >= len(self.chunk) and not self._next_chunk():
                break    # past the end: the next read returns nothing and tarfile reports the truncation
            step = min(remaining, len(self.chunk) - self.at)
            self.at += step
            remaining -= step
            self.position += step
        if remaining:
            self.position += remaining
        return self.position

    def tell(self) -> int:
        return self.position

    def drain(self) -> None:
        while self._next_chunk():
            pass
