"""One contract for every storage backend: a dumb byte store that the registry's rules sit on top of."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_api.storage import KeyBusy, StorageBackend, blob_key, upload_key
from registry_api.storage.filesystem import FilesystemStorage
from registry_api.storage.memory import MemoryStorage

BACKENDS = ["filesystem", "memory"]
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(params=BACKENDS)
def store(request: Any, tmp_path: Path) -> Iterator[StorageBackend]:
    if request.param == "filesystem":
        yield FilesystemStorage(tmp_path / "store")
    else:
        yield MemoryStorage()


def put(store: StorageBackend, key: str, data: bytes, offset: int = 0) -> int:
    writer = store.writer(key, offset=offset)
    writer.write(data)
    writer.close()
    return writer.size


def read(store: StorageBackend, key: str, offset: int = 0) -> bytes:
    with store.open(key, offset=offset) as f:
        return f.read()


def test_what_is_written_can_be_read_back(store):
    put(store, "uploads/one", b"hello world")

    assert read(store, "uploads/one") == b"hello world"


def test_open_starts_at_the_offset(store):
    put(store, "uploads/one", b"hello world")

    assert read(store, "uploads/one", offset=6) == b"world"


def test_open_reads_in_pieces(store):
    put(store, "uploads/one", b"0123456789")

    with store.open("uploads/one", offset=2) as f:
        assert f.read(3) == b"234"
        assert f.read(3) == b"567"
        assert f.read() == b"89"


def test_opening_a_missing_key_raises_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.open("uploads/missing")


def test_the_writer_counts_every_byte_of_the_object(store):
    put(store, "uploads/one", b"abc")

    writer = store.writer("uploads/one", offset=3)
    assert writer.size == 3
    writer.write(b"de")
    writer.write(memoryview(b"fg"))
    writer.close()

    assert writer.size == 7
    assert read(store, "uploads/one") == b"abcdefg"


def test_a_writer_at_an_offset_drops_the_debris_after_it(store):
    put(store, "uploads/one", b"abcdef-debris")

    size = put(store, "uploads/one", b"XY", offset=3)

    assert size == 5
    assert read(store, "uploads/one") == b"abcXY"
    assert store.size("uploads/one") == 5


def test_a_writer_closed_without_writing_truncates_to_its_offset(store):
    put(store, "uploads/one", b"abcdef")

    store.writer("uploads/one", offset=2).close()

    assert read(store, "uploads/one") == b"ab"


def test_a_writer_creates_an_empty_object(store):
    store.writer("uploads/empty").close()

    assert store.size("uploads/empty") == 0
    assert read(store, "uploads/empty") == b""


def test_a_writer_creates_nested_keys(store):
    put(store, blob_key(DIGEST), b"layer")

    assert read(store, blob_key(DIGEST)) == b"layer"


def test_size_is_none_for_a_missing_key(store):
    assert store.size("uploads/missing") is None


def test_size_is_the_length_of_the_object(store):
    put(store, "uploads/one", b"x" * 1000)

    assert store.size("uploads/one") == 1000


def test_move_puts_the_bytes_at_the_destination(store):
    put(store, "uploads/one", b"layer")

    store.move("uploads/one", blob_key(DIGEST))

    assert read(store, blob_key(DIGEST)) == b"layer"
    assert store.size("uploads/one") is None


def test_move_never_replaces_an_existing_destination(store):
    put(store, blob_key(DIGEST), b"old")
    put(store, "uploads/one", b"new")

    store.move("uploads/one", blob_key(DIGEST))

    assert read(store, blob_key(DIGEST)) == b"old"
    assert list(store.walk()) == [blob_key(DIGEST)]


def test_a_key_has_one_writer_at_a_time(store):
    first = store.writer("uploads/one")
    with pytest.raises(KeyBusy):
        store.writer("uploads/one")
    first.close()

    store.writer("uploads/one").close()


def test_truncate_drops_what_was_written_after_the_size(store):
    writer = store.writer("uploads/one")
    writer.write(b"layer")
    writer.truncate(2)
    writer.write(b"ck")
    writer.close()

    assert read(store, "uploads/one") == b"lack"


def test_delete_removes_the_key(store):
    put(store, "uploads/one", b"layer")

    store.delete("uploads/one")

    assert store.size("uploads/one") is None
    assert list(store.walk()) == []


def test_deleting_a_missing_key_is_not_an_error(store):
    store.delete("uploads/missing")

    assert list(store.walk()) == []


def test_walk_lists_every_key(store):
    put(store, "uploads/one", b"1")
    put(store, blob_key(DIGEST), b"2")

    assert sorted(store.walk()) == sorted(["uploads/one", blob_key(DIGEST)])


def test_walk_keeps_only_keys_with_the_prefix(store):
    put(store, "uploads/one", b"1")
    put(store, "uploads/two", b"2")
    put(store, blob_key(DIGEST), b"3")

    assert sorted(store.walk("uploads/")) == ["uploads/one", "uploads/two"]
    assert list(store.walk("blobs/sha512/")) == []


def test_an_empty_store_walks_nothing(store):
    assert list(store.walk()) == []


def test_bytes_are_served_by_the_registry_not_redirected(store):
    put(store, blob_key(DIGEST), b"layer")

    assert store.redirect_url(blob_key(DIGEST)) is None
    assert store.redirect_url(blob_key(DIGEST), "HEAD") is None


def test_blob_keys_fan_out_by_algorithm_and_the_first_two_hex_digits():
    assert blob_key("sha256:" + "ab" * 32) == f"blobs/sha256/ab/{'ab' * 32}"
    assert blob_key("sha512:" + "0f" * 64) == f"blobs/sha512/0f/{'0f' * 64}"


def test_upload_keys_live_under_uploads():
    assert upload_key("7d1c") == "uploads/7d1c"
