"""Blobs in an S3 bucket (AWS or any S3-compatible store) through boto3.

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance
roles): never from Wharf's settings, and never logged.

Layout. Key K is the object `<prefix>K`. A finished blob is a plain object. An object written through a
writer may instead be a *tail*: its metadata (`wharf-base`, `wharf-parts`, `wharf-upload`) says that K's
bytes are the first `parts` parts of the multipart upload `upload` (`base` bytes in all), followed by the
tail object's own bytes. The tail object is the upload's commit record: one PutObject moves K from one
consistent state to the next, and no state lives in a process between requests.

- Chunked pushes. A writer buffers what it receives and sends every PART_SIZE (8 MiB, above S3's 5 MiB
  minimum) as the next part, in the background while it receives the next one. `flush`, which the service
  calls before it commits a length to the database, waits for the parts and puts the rest (shorter than a
  part) as the new tail object. The next request, on any node, reads the tail back and folds it into its
  first part: a small tail costs one GET and one PUT of at most 8 MiB per request.
- Parts sent after the last tail (by a request that died) are outside `parts`: debris, overwritten when
  the upload goes on, since part numbers are reused from `parts + 1`.
- The parts of an unfinished multipart upload cannot be read. When the bytes must be (`readback`, for a
  digest whose hash state this process lacks; `move`), the upload is *sealed*: the tail is copied
  server-side as the last part (UploadPartCopy) and the upload completed onto K, which becomes a plain
  object. Writing to a plain object again starts a new multipart upload whose first parts are server-side
  copies of it, so no byte crosses the network twice.
- A writer at an offset inside the parts (dropping debris that a request committed as a tail before its
  length reached the database) completes the upload with the parts up to the offset and reopens the plain
  object as above. Only retries after failures take that path; a request that fails is cut back to where
  it began without it, since the state it loaded is still stored until it flushes.
- `move` seals the source, copies it server-side to the blob key (CopyObject up to 5 GiB, multipart
  UploadPartCopy beyond), never replacing an existing blob, and deletes the source. The blob key is
  written only there, after the service has checked the digest: a node that dies earlier leaves only its
  upload key behind. (Mounts are database links: they copy nothing.)

Exclusive writers across nodes: a lease on each key (registry_api/storage/s3lease.py).

Limits. A session resumed (same upload URL) after its node died is refused as busy for up to 15 s; a
client that retries the blob with a new session is not held up. A holder cut off from the store for more
than 10 s while one of its part uploads still gets through could overwrite a part of the next holder (S3
has no conditional UploadPart). Exclusion needs a store that honours conditional writes (AWS S3 since 2024,
recent MinIO, moto); one that ignores If-None-Match gives none. Locks of holders that died stay as tiny
objects under `.locks/` (`walk` hides them). A multipart
upload begun by a request that died before writing its first tail stays incomplete until `delete` aborts
it or the next writer of the key starts one (a bucket lifecycle rule AbortIncompleteMultipartUpload also
cleans them). S3 allows 10,000 parts, so an upload sent in 8 MiB parts may reach about 78 GiB.
"""

from __future__ import annotations

import errno
import functools
import io
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, ParamSpec, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from registry_api.storage.s3lease import Lease, error_code, is_conflict, is_missing

PART_SIZE = 8 << 20
COPY_PART_SIZE = 1 << 30          # server-side copies go in larger pieces; a multiple of PART_SIZE
COPY_OBJECT_MAX = 5 << 30         # CopyObject's limit; larger objects are copied part by part
PARTS_IN_FLIGHT = 2
READ_BUFFER = 1 << 20
WALK_PAGE = 1000                  # keys per ListObjectsV2 call (S3's most)
LOCKS = ".locks/"
BASE, PARTS, UPLOAD = "wharf-base", "wharf-parts", "wharf-upload"
OCTET = "application/octet-stream"


P = ParamSpec("P")
R = TypeVar("R")


def translated(function: Callable[P, R]) -> Callable[P, R]:
    """S3's errors as the OSErrors of the protocol: a missing key is FileNotFoundError, anything else EIO
    (an unreachable store too), so the service treats them as it treats a failing disk."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ClientError as exc:
            if is_missing(exc):
                raise FileNotFoundError(errno.ENOENT, "no such key") from exc
            raise OSError(errno.EIO, f"S3 {error_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise OSError(errno.EIO, f"S3: {exc}") from exc

    return wrapper


class S3Reader(io.RawIOBase):
    """A GetObject body as a raw file. It has no fileno(), so servers stream it instead of sendfile."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Writer:
    """Appends to one key through a multipart upload; see the module docstring for the states."""

    @translated
    def __init__(self, store: S3Storage, key: str, offset: int) -> None:
        self._store, self._key = store, key
        self._pending: deque[Future[Any]] = deque()
        self._executor: ThreadPoolExecutor | None = None
        self._lease = Lease(store.client, store.bucket, store.lock_key(key), key)
        try:
            self._load(offset)
        except BaseException:
            self._lease.release()
            raise

    def _load(self, offset: int) -> None:
        """Take the key's stored state at `offset`: what lies before it stays, what lies after it goes."""
        store, key = self._store, self._key
        self._upload: str | None = None
        self._parts = self._base = 0
        self._buffer = bytearray()
        self._unread: tuple[int, int] | None = None   # the buffer's bytes, still in the tail object
        self._sealed, self._dirty, self.size = False, True, offset
        # What the stored state holds at load: (upload, parts, base, shift, offset). Until the next flush, the
        # bytes from `base` up to `offset` can be read again at object offset `logical - shift`, so cutting
        # this writer back there (a request that failed) needs no sealing.
        self._origin: tuple[str | None, int, int, int, int] | None = (None, 0, 0, 0, 0)
        head = store.head(key)
        if head is None:
            if offset:
                raise OSError(errno.EIO, f"{key} does not exist: cannot write at {offset}")
            return
        meta, length = head["Metadata"], int(head["ContentLength"])
        if BASE in meta:
            upload, parts, base = meta.get(UPLOAD) or None, int(meta[PARTS]), int(meta[BASE])
            if offset >= base:
                self._upload, self._parts, self._base = upload, parts, base
                # Read when first needed: a closing PUT without a body never needs the tail's bytes.
                self._unread = (0, offset - base)
                self._dirty = offset != base + length   # a tail to cut, or nothing to store on close
                self._origin = (upload, parts, base, base, offset)
                return
            assert upload is not None
            kept = store.parts_reaching(key, upload, parts, offset)
            length = sum(part["Size"] for part in kept)
            if length == offset:   # the offset falls between parts: drop the later ones, keep the upload
                self._upload, self._parts, self._base = upload, len(kept), offset
                self._origin = (upload, len(kept), offset, offset, offset)
                return
            store.complete(key, upload, kept)   # K is now a plain object of `length` bytes
        if offset > length:
            raise OSError(errno.EIO, f"{key} has {length} bytes: cannot write at {offset}")
        copied = offset // PART_SIZE * PART_SIZE
        if copied:
            self._upload = store.create_upload(key)
            self._parts = store.copy_parts(key, self._upload, copied)
            self._base = copied
        self._buffer = store.read_range(key, copied, offset)
        self._origin = (self._upload, self._parts, copied, 0, offset)

    def _read_buffer(self) -> None:
        if self._unread is not None:
            self._buffer = self._store.read_range(self._key, *self._unread)
            self._unread = None

    @translated
    def write(self, data: bytes | memoryview) -> None:
        if self._sealed:
            self._load(self.size)
        self._read_buffer()
        self._buffer += data
        self.size += len(data)
        self._dirty = True
        while len(self._buffer) >= PART_SIZE:
            part = bytes(memoryview(self._buffer)[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._send(part)

    def _send(self, part: bytes) -> None:
        if self._upload is None:
            self._upload = self._store.create_upload(self._key)
        self._parts += 1
        self._base += len(part)
        self._lease.check()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        while len(self._pending) >= PARTS_IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(
            self._store.upload_part, self._key, self._upload, self._parts, part))

    def _wait(self) -> None:
        """Wait for every part in flight; the first failure is raised once all have ended."""
        error: BaseException | None = None
        while self._pending:
            try:
                self._pending.popleft().result()
            except BaseException as exc:   # raised below, once the others have ended
                error = error or exc
        if error is not None:
            raise error

    @translated
    def truncate(self, size: int) -> None:
        self._wait()
        if size > self.size:
            raise ValueError(f"cannot truncate {self._key} from {self.size} up to {size} bytes")
        if not self._sealed and size >= self._base:
            self._read_buffer()
            del self._buffer[size - self._base:]
            self.size, self._dirty = size, True
            return
        if not self._sealed and self._origin is not None and self._origin[2] <= size <= self._origin[4]:
            # Back to the state as loaded: the parts this writer sent become debris.
            upload, parts, base, shift, _ = self._origin
            self._upload, self._parts, self._base = upload, parts, base
            self._buffer, self._unread = self._store.read_range(self._key, base - shift, size - shift), None
            self.size, self._dirty = size, True
            return
        if not self._sealed:
            self.flush()   # so the parts this writer sent are part of the state it reloads
        self._load(size)

    @translated
    def flush(self) -> None:
        self._wait()
        if not self._dirty:
            return
        self._lease.check()   # the tail is the commit: this writer must still hold the key
        self._read_buffer()
        self._store.put_tail(self._key, bytes(self._buffer), self._base, self._parts, self._upload)
        self._dirty, self._origin = False, None

    @translated
    def readback(self) -> BinaryIO:
        self.flush()
        if not self._sealed:
            self._store.seal(self._key)
            self._sealed = True
        return self._store.open(self._key)

    @translated
    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self._lease.release()


def _client(endpoint_url: str | None, region: str | None, addressing_style: str) -> Any:
    config = Config(
        s3={"addressing_style": addressing_style}, signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32,
        # Checksums only where the API demands them: stores other than AWS differ in what they accept, and
        # the registry checks every blob's digest itself.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                                          config=config)


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, addressing_style: str = "auto", redirect: bool = True,
                 redirect_seconds: int = 300, client: Any = None) -> None:
        if not bucket:
            raise ValueError("WHARF_S3_BUCKET must name a bucket when WHARF_STORAGE_BACKEND is s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.redirect, self.redirect_seconds = redirect, redirect_seconds
        self.client = client or _client(endpoint_url, region, addressing_style)

    # --- keys -------------------------------------------------------------------------------------------
    def full_key(self, key: str) -> str:
        if not key or key.startswith(("/", ".")) or ".." in key.split("/"):
            raise ValueError(f"bad storage key {key!r}")
        return self.prefix + key

    def lock_key(self, key: str) -> str:
        return self.prefix + LOCKS + self.full_key(key)[len(self.prefix):]

    # --- the protocol -----------------------------------------------------------------------------------
    @translated
    def open(self, key: str, offset: int = 0) -> BinaryIO:
        ranged = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key), **ranged)
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":   # the key exists and ends before the offset
                return io.BytesIO(b"")
            raise
        meta = response["Metadata"]
        if int(meta.get(PARTS, 0)):
            # An upload in progress: its parts become readable only once completed, under the lease.
            response["Body"].close()
            lease = Lease(self.client, self.bucket, self.lock_key(key), key)
            try:
                self.seal(key)
            finally:
                lease.release()
            return self.open(key, offset)
        return io.BufferedReader(S3Reader(response["Body"]), buffer_size=READ_BUFFER)

    def writer(self, key: str, offset: int = 0) -> S3Writer:
        return S3Writer(self, key, offset)

    @translated
    def size(self, key: str) -> int | None:
        head = self.head(key)
        if head is None:
            return None
        return int(head["Metadata"].get(BASE, 0)) + int(head["ContentLength"])

    @translated
    def move(self, src: str, dst: str) -> None:
        size, leftover = self.seal(src)
        if self.head(dst) is None:
            if size <= COPY_OBJECT_MAX:
                try:
                    self.client.copy_object(
                        Bucket=self.bucket, Key=self.full_key(dst), ContentType=OCTET, MetadataDirective="REPLACE",
                        CopySource={"Bucket": self.bucket, "Key": self.full_key(src)}, IfNoneMatch="*")
                except ClientError as exc:
                    if not is_conflict(exc):   # a conflict: another move put the same bytes there first
                        raise
            else:
                self._copy_large(src, dst, size)
        self.client.delete_object(Bucket=self.bucket, Key=self.full_key(src))
        if leftover:
            self._abort(self.full_key(src), leftover)

    @translated
    def delete(self, key: str) -> None:
        full = self.full_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=full)
        self._abort_all(full)

    def walk(self, prefix: str = "") -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix, PaginationConfig={"PageSize": WALK_PAGE})
        try:
            for page in pages:
                for entry in page.get("Contents", []):
                    key = entry["Key"][len(self.prefix):]
                    if not key.startswith(LOCKS):
                        yield key
        except (ClientError, BotoCoreError) as exc:
            raise OSError(errno.EIO, f"S3: {exc}") from exc

    @translated
    def redirect_url(self, key: str, method: str = "GET") -> str | None:
        if not self.redirect or method != "GET":
            return None
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.full_key(key)}, ExpiresIn=self.redirect_seconds)
        return url

    # --- the steps the writer and move are made of --------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return head

    def read_range(self, key: str, start: int, end: int) -> bytearray:
        if end <= start:
            return bytearray()
        response = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key), Range=f"bytes={start}-{end - 1}")
        data = bytearray(response["Body"].read())
        if len(data) != end - start:
            raise OSError(errno.EIO, f"{key} is shorter than {end} bytes")
        return data

    def put_tail(self, key: str, data: bytes, base: int, parts: int, upload: str | None) -> None:
        meta = {BASE: str(base), PARTS: str(parts), **({UPLOAD: upload} if upload else {})}
        self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data, ContentType=OCTET, Metadata=meta)

    def create_upload(self, key: str) -> str:
        """A new multipart upload for `key`. The caller holds the lease and its tail names no upload, so any
        other upload of the key was begun by a request that died before naming it: those are aborted."""
        self._abort_all(self.full_key(key))
        response = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.full_key(key), ContentType=OCTET)
        return str(response["UploadId"])

    def upload_part(self, key: str, upload: str, number: int, data: bytes) -> None:
        self.client.upload_part(Bucket=self.bucket, Key=self.full_key(key), UploadId=upload, PartNumber=number,
                                Body=data)

    def parts_reaching(self, key: str, upload: str, count: int, offset: int) -> list[dict[str, Any]]:
        """The upload's first parts, up to the one that reaches `offset` (at most `count` parts)."""
        kept: list[dict[str, Any]] = []
        reached = 0
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self.full_key(key), UploadId=upload)
        for page in pages:
            for part in page.get("Parts", []):
                if reached >= offset or len(kept) == count:
                    return kept
                if part["PartNumber"] != len(kept) + 1:
                    raise OSError(errno.EIO, f"{key}: part {len(kept) + 1} of upload {upload} is missing")
                kept.append(part)
                reached += int(part["Size"])
        if reached < offset:
            raise OSError(errno.EIO, f"{key}: upload {upload} holds {reached} bytes, not {offset}")
        return kept

    def complete(self, key: str, upload: str, parts: list[dict[str, Any]]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.full_key(key), UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})

    def copy_parts(self, key: str, upload: str, end: int) -> int:
        """Copy the plain object at `key`, up to `end`, server-side into the upload's first parts."""
        number = 0
        for start in range(0, end, COPY_PART_SIZE):
            number += 1
            self.client.upload_part_copy(
                Bucket=self.bucket, Key=self.full_key(key), UploadId=upload, PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": self.full_key(key)},
                CopySourceRange=f"bytes={start}-{min(start + COPY_PART_SIZE, end) - 1}")
        return number

    def seal(self, key: str) -> tuple[int, str | None]:
        """Make `key` a plain object: its tail becomes the upload's last part, and the upload completes.
        Returns the object's length and the multipart upload a tail still names, if it named one of no parts
        (left by a writer that went back to offset 0)."""
        head = self.head(key)
        if head is None:
            raise FileNotFoundError(errno.ENOENT, f"no such key {key!r}")
        meta, length = head["Metadata"], int(head["ContentLength"])
        count = int(meta.get(PARTS, 0))
        if not count:   # a plain object, or a tail that holds every byte
            return length, meta.get(UPLOAD) or None
        upload, base = meta[UPLOAD], int(meta[BASE])
        parts = self.parts_reaching(key, upload, count, base)
        if len(parts) != count or sum(int(part["Size"]) for part in parts) != base:
            raise OSError(errno.EIO, f"{key}: upload {upload} does not hold the {count} parts its tail names")
        if int(head["ContentLength"]):
            copied = self.client.upload_part_copy(
                Bucket=self.bucket, Key=self.full_key(key), UploadId=upload, PartNumber=count + 1,
                CopySource={"Bucket": self.bucket, "Key": self.full_key(key)}, CopySourceIfMatch=head["ETag"])
            parts.append({"PartNumber": count + 1, "ETag": copied["CopyPartResult"]["ETag"]})
        self.complete(key, upload, parts)
        return base + length, None

    def _copy_large(self, src: str, dst: str, size: int) -> None:
        full = self.full_key(dst)
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=full, ContentType=OCTET)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), start=1):
                copied = self.client.upload_part_copy(
                    Bucket=self.bucket, Key=full, UploadId=upload, PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": self.full_key(src)},
                    CopySourceRange=f"bytes={start}-{min(start + COPY_PART_SIZE, size) - 1}")
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload, IfNoneMatch="*",
                                                  MultipartUpload={"Parts": parts})
        except ClientError as exc:
            self._abort(full, upload)
            if not is_conflict(exc):
                raise

    def _abort_all(self, full_key: str) -> None:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full_key)
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Key"] == full_key:
                    self._abort(full_key, upload["UploadId"])

    def _abort(self, full_key: str, upload: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload)
        except ClientError as exc:
            if error_code(exc) != "NoSuchUpload":
                raise
