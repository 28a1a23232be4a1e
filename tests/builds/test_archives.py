"""Unpacking an uploaded build context: real tar, gzip, bz2, xz and zip archives made here, hostile ones refused
with nothing written outside (or left inside) the build's directory. No database."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from builds.source import SourceError, _empty, unpack

MiB = 1024 * 1024


class Stream(io.RawIOBase):
    """An upload that can only be read forward, like a request body."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:   # type: ignore[override]
        return self.data.read(size)


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
          link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
    return info, data


def tar_of(*entries: tuple[tarfile.TarInfo, bytes], compression: str = "") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=f"w:{compression}") as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def zip_of(*entries: tuple[str, bytes, int]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return out.getvalue()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "builds" / "7" / "context").mkdir(parents=True)
    return tmp_path / "builds" / "7" / "context"


def refused(data: bytes, dest: Path, match: str, **limits: int) -> None:
    """Refused, with `dest` left empty and nothing beside it or anywhere else under the test's directory."""
    root = dest.parent.parent.parent
    before = sorted(root.rglob("*"))
    with pytest.raises(SourceError, match=match):
        unpack(io.BytesIO(data), "context.tar", dest, max_bytes=limits.get("max_bytes", 10 * MiB),
               max_entries=limits.get("max_entries", 1000))
    assert list(dest.iterdir()) == []
    assert sorted(root.rglob("*")) == before
    assert not any("evil" in path.name for path in root.rglob("*"))


def files_under(dest: Path) -> dict[str, str]:
    found = {}
    for path in sorted(dest.rglob("*")):
        mode = path.lstat().st_mode
        kind = "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else oct(stat.S_IMODE(mode))
        found[str(path.relative_to(dest))] = kind
    return found


GOOD = (entry("./app", tarfile.DIRTYPE, mode=0o700), entry("app/Dockerfile", data=b"FROM scratch\nCOPY . /\n"),
        entry("app/bin/run.sh", data=b"#!/bin/sh\necho hi\n", mode=0o4755),     # setuid: dropped
        entry("app/bin/latest", tarfile.SYMTYPE, link="run.sh"),
        entry("app/again.sh", tarfile.LNKTYPE, link="app/bin/run.sh"))


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_it_unpacks_a_tar_from_a_stream_keeping_the_executable_bit(dest: Path, compression: str) -> None:
    unpack(Stream(tar_of(*GOOD, compression=compression)), "context", dest, max_bytes=MiB)  # type: ignore[arg-type]
    assert files_under(dest) == {"app": "dir", "app/Dockerfile": "0o644", "app/again.sh": "0o755",
                                 "app/bin": "dir", "app/bin/latest": "link", "app/bin/run.sh": "0o755"}
    assert (dest / "app" / "bin" / "latest").read_text() == "#!/bin/sh\necho hi\n"
    assert list(dest.parent.iterdir()) == [dest]


@pytest.mark.parametrize("seekable", [True, False])
def test_it_unpacks_a_zip_with_a_subdirectory_and_an_executable(dest: Path, seekable: bool) -> None:
    data = zip_of(("src/", b"", 0o40755), ("src/Dockerfile", b"FROM scratch\n", 0o100644),
                  ("src/tools/build", b"#!/bin/sh\n", 0o100755), ("README", b"hello", 0))
    upload = io.BytesIO(data) if seekable else Stream(data)
    unpack(upload, "context.zip", dest, max_bytes=MiB)  # type: ignore[arg-type]
    assert files_under(dest) == {"README": "0o644", "src": "dir", "src/Dockerfile": "0o644", "src/tools": "dir",
                                 "src/tools/build": "0o755"}
    assert list(dest.parent.iterdir()) == [dest]      # the spooled copy of a stream is gone


def test_a_plain_upload_is_the_dockerfile(dest: Path) -> None:
    unpack(io.BytesIO("FROM scratch\nLABEL name=ünïcode\n".encode()), "Dockerfile", dest, max_bytes=MiB)
    assert (dest / "Dockerfile").read_text() == "FROM scratch\nLABEL name=ünïcode\n"
    assert files_under(dest) == {"Dockerfile": "0o644"}


@pytest.mark.parametrize(("data", "match"), [
    (b"", "The upload is empty"),
    (b"\x00\x01binary\xff", "neither a tar or zip archive nor a Dockerfile"),
    (b"FROM scratch\n" * 100_000, "too large for a Dockerfile"),
])
def test_an_upload_that_is_no_dockerfile_is_refused(dest: Path, data: bytes, match: str) -> None:
    refused(data, dest, match)


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "./../evil", "..\\evil", "a/\nevil"])
def test_entries_outside_the_context_are_refused(dest: Path, name: str) -> None:
    refused(tar_of(entry("ok", data=b"fine"), entry(name, data=b"owned")), dest, "refused|outside|backslash")


def test_absolute_paths_are_refused(dest: Path) -> None:
    target = dest.parent.parent.parent / "evil-absolute"
    refused(tar_of(entry(str(target), data=b"owned")), dest, "refused|absolute")
    assert not target.exists()


@pytest.mark.parametrize("target", ["../../evil", "/etc", "a/../../evil", "../context/../../evil"])
def test_a_symlink_out_of_the_context_is_refused(dest: Path, target: str) -> None:
    refused(tar_of(entry("link", tarfile.SYMTYPE, link=target)), dest, "refused|outside")


def test_a_file_written_through_an_earlier_symlink_is_refused(dest: Path) -> None:
    # The link itself points inside; the file would follow it (and with "up" -> "..", out of the context).
    refused(tar_of(entry("real", tarfile.DIRTYPE), entry("inner", tarfile.SYMTYPE, link="real"),
                   entry("inner/evil", data=b"owned")), dest, "goes through a link")
    refused(tar_of(entry("a", tarfile.DIRTYPE), entry("a/up", tarfile.SYMTYPE, link=".."),
                   entry("a/up/evil", data=b"owned")), dest, "goes through a link")


def test_a_symlink_that_leaves_through_another_symlink_is_refused(dest: Path) -> None:
    # "t" -> "a/s/.." reads as "a", but once a/s -> ".." (the context itself) comes after it, t is the
    # context's parent: only a look at every link once all are in place sees it.
    refused(tar_of(entry("a", tarfile.DIRTYPE), entry("t", tarfile.SYMTYPE, link="a/s/.."),
                   entry("a/s", tarfile.SYMTYPE, link="..")), dest, "leads outside the build context")
    refused(tar_of(entry("a", tarfile.DIRTYPE), entry("a/s", tarfile.SYMTYPE, link=".."),
                   entry("t", tarfile.SYMTYPE, link="a/s/..")), dest, "refused|leads outside")


@pytest.mark.parametrize("link", ["../evil", "/etc/passwd", "later", "dir"])
def test_a_hardlink_to_anything_but_an_earlier_file_is_refused(dest: Path, link: str) -> None:
    refused(tar_of(entry("dir", tarfile.DIRTYPE), entry("evil-link", tarfile.LNKTYPE, link=link),
                   entry("later", data=b"x")), dest, "refused|outside|absolute|hard link")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_refused(dest: Path, kind: bytes) -> None:
    info, _ = entry("evil-device", kind)
    info.devmajor, info.devminor = 1, 3
    refused(tar_of((info, b"")), dest, "refused|device or fifo")


def gzipped_tar_of_zeros(size: int) -> bytes:
    """A tar.gz of one file of `size` zero bytes, made in pieces (about 1 MiB per GiB)."""
    info = tarfile.TarInfo("zeros")
    info.size = size
    gzip = zlib.compressobj(1, zlib.DEFLATED, 31)
    out = [gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    zeros = bytes(MiB)
    out += [gzip.compress(zeros) for _ in range(size // MiB)]
    out += [gzip.compress(bytes(1024)), gzip.flush()]
    return b"".join(out)


def test_a_decompression_bomb_stops_early_and_leaves_nothing(dest: Path) -> None:
    bomb = gzipped_tar_of_zeros(1024 * MiB)
    assert len(bomb) < 20 * MiB
    started = time.monotonic()
    refused(bomb, dest, "more than 10485760 bytes")
    assert time.monotonic() - started < 2


def test_many_files_that_add_up_to_too_much_are_refused_while_writing(dest: Path) -> None:
    pieces = [entry(f"part-{n}", data=bytes(MiB)) for n in range(12)]
    refused(tar_of(*pieces, compression="gz"), dest, "more than 10485760 bytes")


def test_too_many_entries_are_refused(dest: Path) -> None:
    refused(tar_of(*(entry(f"f{n}") for n in range(11))), dest, "more than 10 entries", max_entries=10)
    refused(zip_of(*((f"f{n}", b"", 0o100644) for n in range(11))), dest, "more than 10 entries", max_entries=10)


@pytest.mark.parametrize(("name", "mode", "data", "match"), [
    ("../evil", 0o100644, b"owned", "outside"),
    ("/evil", 0o100644, b"owned", "absolute"),
    ("link", 0o120777, b"../../evil", "outside"),
    ("evil-fifo", 0o10644, b"", "device or fifo"),
    ("big", 0o100644, bytes(11 * MiB), "more than"),
])
def test_hostile_zips_are_refused(dest: Path, name: str, mode: int, data: bytes, match: str) -> None:
    refused(zip_of(("ok/", b"", 0o40755), ("ok/file", b"fine", 0o100644), (name, data, mode)), dest, match)


def test_a_later_entry_replaces_a_file_or_link_of_the_same_name_but_never_a_directory(dest: Path) -> None:
    unpack(io.BytesIO(tar_of(entry("f", data=b"old"), entry("l", tarfile.SYMTYPE, link="f"),
                             entry("f", data=b"new"), entry("l", data=b"plain"))), "c.tar", dest, max_bytes=MiB)
    assert (dest / "f").read_text() == "new" and (dest / "l").read_text() == "plain"
    assert files_under(dest) == {"f": "0o644", "l": "0o644"}
    _empty(dest)
    refused(tar_of(entry("d", tarfile.DIRTYPE), entry("d", data=b"x")), dest, "would replace a directory")


def test_a_broken_archive_is_refused(dest: Path) -> None:
    whole = tar_of(entry("noise", data=os.urandom(64 * 1024)), compression="gz")
    refused(whole[:len(whole) // 2], dest, "ends in the middle of 'noise'|not a readable tar")
    refused(b"PK\x03\x04" + bytes(100), dest, "not a readable zip archive")


def test_a_build_directory_that_is_not_empty_is_not_touched(dest: Path) -> None:
    (dest / "mine").write_text("keep")
    with pytest.raises(SourceError, match="not empty"):
        unpack(io.BytesIO(b"FROM scratch\n"), "Dockerfile", dest, max_bytes=MiB)
    assert (dest / "mine").read_text() == "keep"
