"""One contract for every storage backend: a dumb byte store that the registry's rules sit on top of."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_api.storage import KeyBusy, StorageBackend, blob_key, upload_key
from registry_api.storage.filesystem import FilesystemStorage
from registry_api.storage.memory import MemoryStorage
from registry_api.storage.s3 import S3Storage
from tests.s3 import REGION, unique_prefix

BACKENDS = ["filesystem", "memory", "s3"]
DIGEST = "sha256:" + "ab" * 32
MiB = 1 << 20
# Larger than S3's 5 MiB part minimum and the s3 backend's 8 MiB parts, so that uploads span several parts.
BIG = random.Random(14).randbytes(21 * MiB + 777)


@pytest.fixture(params=BACKENDS)
def store(request: Any, tmp_path: Path) -> Iterator[StorageBackend]:
    if request.param == "filesystem":
        yield FilesystemStorage(tmp_path / "store")
    elif request.param == "s3":
        server = request.getfixturevalue("s3_server")
        yield S3Storage(server.bucket, unique_prefix("contract"), endpoint_url=server.endpoint, region=REGION,
                        redirect=False)
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


def write_in_chunks(store: StorageBackend, key: str, data: bytes, offset: int = 0, chunk: int = MiB) -> None:
    writer = store.writer(key, offset=offset)
    for start in range(0, len(data), chunk):
        writer.write(memoryview(data)[start:start + chunk])
    writer.close()


def test_an_object_of_several_parts_reads_back_whole_and_from_an_offset(store):
    write_in_chunks(store, "uploads/big", BIG)

    assert store.size("uploads/big") == len(BIG)
    assert read(store, "uploads/big") == BIG
    assert read(store, "uploads/big", offset=9 * MiB + 5) == BIG[9 * MiB + 5:]


def test_writers_one_after_another_continue_an_object_across_parts(store):
    cuts = [0, 3 * MiB, 3 * MiB + 1, 11 * MiB + 17, 16 * MiB, len(BIG)]
    for start, end in zip(cuts, cuts[1:], strict=False):
        write_in_chunks(store, "uploads/big", BIG[start:end], offset=start, chunk=700_000)
        assert store.size("uploads/big") == end

    assert read(store, "uploads/big") == BIG


@pytest.mark.parametrize("offset", [0, 5, 8 * MiB, 8 * MiB + 3, 13 * MiB, 16 * MiB, 21 * MiB])
def test_a_writer_inside_earlier_parts_drops_everything_after_its_offset(store, offset):
    write_in_chunks(store, "uploads/big", BIG)

    size = put(store, "uploads/big", b"tail", offset=offset)

    assert size == offset + 4
    assert store.size("uploads/big") == offset + 4
    assert read(store, "uploads/big") == BIG[:offset] + b"tail"


def test_truncate_reaches_back_into_parts_the_same_writer_sent(store):
    writer = store.writer("uploads/big")
    writer.write(BIG)
    writer.truncate(5 * MiB + 1)
    writer.write(b"z")
    writer.close()

    assert read(store, "uploads/big") == BIG[:5 * MiB + 1] + b"z"


@pytest.mark.parametrize("back_to", [0, 1, 16 * MiB + 5, 17 * MiB - 3])
def test_a_writer_cut_back_drops_the_parts_it_sent(store, back_to):
    write_in_chunks(store, "uploads/big", BIG[:17 * MiB - 3])
    writer = store.writer("uploads/big", offset=17 * MiB - 3)
    writer.write(b"d" * (20 * MiB))   # as a request that fails after sending some parts

    writer.truncate(back_to)
    writer.write(b"z")
    writer.close()

    assert read(store, "uploads/big") == BIG[:back_to] + b"z"


def test_flushed_bytes_are_seen_by_the_next_writer_even_if_this_one_never_closes(store):
    writer = store.writer("uploads/big")
    writer.write(BIG[:9 * MiB + 1])
    writer.flush()

    assert store.size("uploads/big") == 9 * MiB + 1
    writer.close()


def test_readback_gives_every_byte_written_and_the_writer_may_go_on(store):
    writer = store.writer("uploads/big")
    writer.write(BIG[:12 * MiB])
    with writer.readback() as f:
        assert f.read() == BIG[:12 * MiB]
    writer.write(BIG[12 * MiB:])
    writer.close()

    assert read(store, "uploads/big") == BIG


def test_readback_of_a_small_object_and_moving_it_while_held(store):
    writer = store.writer("uploads/one", offset=0)
    writer.write(b"layer")
    writer.flush()
    with writer.readback() as f:
        assert f.read() == b"layer"
    store.move("uploads/one", blob_key(DIGEST))
    writer.close()

    assert read(store, blob_key(DIGEST)) == b"layer"
    assert list(store.walk()) == [blob_key(DIGEST)]


def test_moving_an_object_of_several_parts_puts_every_byte_at_the_destination(store):
    write_in_chunks(store, "uploads/big", BIG)

    store.move("uploads/big", blob_key(DIGEST))

    assert store.size(blob_key(DIGEST)) == len(BIG)
    assert read(store, blob_key(DIGEST)) == BIG
    assert list(store.walk()) == [blob_key(DIGEST)]


def test_deleting_an_object_of_several_parts_leaves_nothing(store):
    write_in_chunks(store, "uploads/big", BIG)

    store.delete("uploads/big")

    assert store.size("uploads/big") is None
    assert list(store.walk()) == []


def test_blob_keys_fan_out_by_algorithm_and_the_first_two_hex_digits():
    assert blob_key("sha256:" + "ab" * 32) == f"blobs/sha256/ab/{'ab' * 32}"
    assert blob_key("sha512:" + "0f" * 64) == f"blobs/sha512/0f/{'0f' * 64}"


def test_upload_keys_live_under_uploads():
    assert upload_key("7d1c") == "uploads/7d1c"
