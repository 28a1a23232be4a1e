"""Repositories, blob links and upload sessions: the rules that keep a blob invisible until verified."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from portal.diskfull import is_disk_full
from portal.names import is_supported_digest
from registry_api import hashing, queries, storage
from registry_api.bodies import RING_SIZE, BodyTruncated, RequestBody
from registry_api.errors import (
    BlobTooLarge,
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    NameUnknown,
    RangeInvalid,
    StorageFull,
    TooManyRequests,
    Unavailable,
)
from registry_api.gate import Principal, gate
from registry_api.models import BlobLink, Upload
from registry_api.queries import BlobRow, RepositoryRow, UploadRow
from registry_api.storage import BlobWriter

READ_SIZE = 1 << 20
# Below this a second thread costs more than it saves.
PIPELINE_MIN_SIZE = 8 << 20
# Open sessions end when finished or cancelled, so a client over the limit may soon have room again.
RETRY_AFTER_SECONDS = 60
# Only sessions that saw a request this recently count as open: a client that crashed mid-push leaves sessions
# behind for the hourly purge, and they must not lock it out until then.
ACTIVE_UPLOAD = timedelta(minutes=10)

log = logging.getLogger(__name__)


def get_repository(full_name: str) -> RepositoryRow | None:
    return queries.repository(full_name)


def create_repository(full_name: str, principal: Principal, client_ip: str | None = None) -> RepositoryRow:
    """Create `namespace/name` on first push (the portal decides its visibility and grants). The caller has
    checked permission."""
    repository = gate().create_repository(principal, full_name, client_ip)
    if repository is None:
        raise NameUnknown(f"namespace {full_name.split('/', 1)[0]} does not exist")
    return repository


def linked_blob(repository: RepositoryRow, digest: str) -> BlobRow:
    blob = queries.linked_blob(repository, digest)
    if blob is None:
        raise BlobUnknown(detail={"digest": digest})
    return blob


def unlink_blob(repository: RepositoryRow, digest: str) -> None:
    """Remove the repository's link; the bytes stay for other repositories until garbage collection."""
    deleted, _ = BlobLink.objects.filter(repository_id=repository.pk, blob__digest=digest).delete()
    if not deleted:
        raise BlobUnknown(detail={"digest": digest})


def mount_blob(repository: RepositoryRow, digest: str, source: RepositoryRow) -> BlobRow | None:
    """Link a blob that `source` holds into `repository`; None if `source` does not hold it."""
    return queries.mount_blob(repository, source, digest)


def upload_owner(principal: Principal) -> str:
    """Whose sessions an upload counts against: a robot's own, else the user's (their API tokens included)."""
    return f"robot:{principal.robot_id}" if principal.robot_id is not None else f"user:{principal.user_id}"


def start_upload(repository: RepositoryRow, owner: str) -> UploadRow:
    """Open a session; TOOMANYREQUESTS when `owner` already holds WHARF_MAX_OPEN_UPLOADS sessions active in the
    last ten minutes. (Two requests at once may both pass the count: the limit is a guard against piles of
    sessions, not a quota.)"""
    limit = settings.WHARF_MAX_OPEN_UPLOADS
    upload = queries.start_upload(repository, owner, timezone.now() - ACTIVE_UPLOAD, limit)
    if upload is None:
        raise TooManyRequests(f"{limit} upload sessions are open already: finish or cancel one first",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return upload


def get_upload(repository: RepositoryRow, upload_id: str) -> UploadRow:
    try:
        parsed = uuid.UUID(upload_id)
    except ValueError:
        raise BlobUploadUnknown() from None
    upload = queries.upload(repository, parsed)
    if upload is None:
        raise BlobUploadUnknown()
    return upload


def append_to_upload(upload: UploadRow, body: RequestBody, content_range: tuple[int, int] | None = None) -> UploadRow:
    """Append a chunk. A chunk that does not start where the upload ends is refused with 416."""
    writer, state = _receive(upload, body, content_range)
    try:
        writer.flush()   # the length is committed only once its bytes would survive this process
        if writer.size != upload.size and not queries.grow_upload(upload, writer.size):
            # The committed length moves only if nobody else moved it meanwhile.
            hashing.forget(upload.id)
            raise BlobUploadInvalid("the upload was changed by another request")
    finally:
        writer.close()
    upload.size = writer.size
    if state is not None:
        hashing.remember(upload.id, upload.size, state)
    return upload


def _receive(upload: UploadRow, body: RequestBody, content_range: tuple[int, int] | None) -> tuple[BlobWriter, Any]:
    """Write the body after the upload's committed bytes, hashing as it streams. Returns the writer, still
    open and so still holding the upload against other requests, and the sha256 state of all the bytes
    (None when this process did not see the earlier ones)."""
    room = _room(upload, body, content_range)
    if content_range is not None:
        start, end = content_range
        if start != upload.size or (body.expected is not None and body.expected != end - start + 1):
            raise RangeInvalid("chunk does not continue the upload", headers=upload_progress_headers(upload))
    try:
        writer = storage.backend().writer(upload.storage_key, offset=upload.size)
    except storage.KeyBusy:
        raise BlobUploadInvalid("another request is writing to this upload") from None
    except OSError as exc:
        raise _storage_error(exc, body) from exc
    state = hashing.resume(upload.id, upload.size)
    chunks = _capped(body, room)
    try:
        if state is not None and (body.expected or 0) >= PIPELINE_MIN_SIZE:
            _write_and_hash_in_parallel(chunks, writer, state)
        else:
            for chunk in chunks:
                if state is not None:
                    state.update(chunk)
                writer.write(chunk)
    except (BodyTruncated, BlobTooLarge, OSError) as exc:
        # Nothing of this request stays: the chunk is cut back to the committed length, which also gives
        # back the space a full disk needs.
        hashing.forget(upload.id)
        _trim(writer, upload.size)
        if isinstance(exc, BodyTruncated):
            raise BlobUploadInvalid("the request body ended before its Content-Length") from None
        raise _storage_error(exc, body) if isinstance(exc, OSError) else _abandoned(exc, body) from None
    except BaseException:
        writer.close()
        raise
    return writer, state


def _room(upload: UploadRow, body: RequestBody, content_range: tuple[int, int] | None) -> int:
    """How many more bytes the blob may take. A declared length past WHARF_MAX_BLOB_BYTES is refused with
    413 before a byte of the body is read (and the connection closes instead of draining it)."""
    limit = settings.WHARF_MAX_BLOB_BYTES
    declared_end = (content_range[1] + 1 if content_range is not None
                    else None if body.expected is None else upload.size + body.expected)
    if declared_end is not None and declared_end > limit:
        raise _abandoned(BlobTooLarge(f"a blob may be at most {limit} bytes"), body)
    return limit - upload.size


def _capped(body: RequestBody, room: int) -> Iterator[bytes | memoryview]:
    """The body's chunks, refusing (before it is written) the one that takes the blob past its limit: a
    streamed body has no declared length to refuse up front."""
    for chunk in body.chunks():
        room -= len(chunk)
        if room < 0:
            raise BlobTooLarge(f"a blob may be at most {settings.WHARF_MAX_BLOB_BYTES} bytes")
        yield chunk


def _abandoned(error: Exception, body: RequestBody) -> Exception:
    body.abandon()
    return error


def _storage_error(exc: OSError, body: RequestBody) -> Exception:
    """A full disk becomes 507 (the client may try again once there is room); other I/O errors stay errors."""
    if not is_disk_full(exc):
        return exc
    log.error("blob storage is full: %s", exc)
    return _abandoned(StorageFull(), body)


def _trim(writer: BlobWriter, size: int) -> None:
    try:
        writer.truncate(size)
    except OSError:
        # The next writer drops bytes past the committed length anyway; the row never counted them.
        log.exception("could not cut an upload back to %d bytes", size)
    finally:
        writer.close()


def _write_and_hash_in_parallel(chunks: Iterator[bytes | memoryview], writer: BlobWriter, state: Any) -> None:
    """Hash on a second thread while this one receives and writes. Both hashlib and the system calls
    release the GIL, so a large layer streams at the speed of the slower of the two instead of their sum;
    the hashing thread takes the chunks in order, and each chunk's buffer is reused only after it is
    hashed (the body keeps RING_SIZE buffers in turn)."""
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher:
        try:
            for chunk in chunks:
                pending.append(hasher.submit(state.update, chunk))
                writer.write(chunk)
                if len(pending) >= RING_SIZE - 1:
                    pending.popleft().result()
        finally:
            for future in pending:
                future.result()


def finish_upload(upload: UploadRow, digest: str, body: RequestBody,
                  content_range: tuple[int, int] | None = None) -> BlobRow:
    """Append the last chunk, check the digest, and only then make the blob visible in the repository.

    The upload stays held from the first byte of this request to the commit, so no other request can
    change the bytes between their check and their move into place. A digest that does not match
    cancels the upload: nothing of it stays behind.
    """
    if not is_supported_digest(digest):
        raise DigestInvalid(f"{digest!r} is not a valid sha256 or sha512 digest", detail={"digest": digest})
    writer, state = _receive(upload, body, content_range)
    try:
        writer.flush()
        if _digest_of(writer, state, digest.split(":", 1)[0]) != digest:
            writer.close()
            cancel_upload(upload)
            raise DigestInvalid(detail={"digest": digest})
        try:
            storage.backend().move(upload.storage_key, storage.blob_key(digest))
        except OSError as exc:   # e.g. no room for the blob's folder: the upload stays as it was committed
            hashing.forget(upload.id)
            writer.truncate(upload.size)
            raise _storage_error(exc, body) from exc
        hashing.forget(upload.id)
        # The row still says the length committed before this request: that is what the claim matches.
        try:
            committed = queries.commit_blob(upload, digest, writer.size, lambda: _check_in_place(digest, writer.size))
        except Unavailable:
            writer.close()
            cancel_upload(upload)
            raise
        if not committed:
            raise BlobUploadInvalid("the upload was changed by another request")
    finally:
        writer.close()
    return BlobRow(digest, writer.size)


def _check_in_place(digest: str, size: int) -> None:
    """The blob's bytes are where its row will say. They may not be: `move` keeps bytes already at the key and
    drops the upload's, and garbage collection may have removed those old bytes since (a blob re-uploaded at
    the moment it is collected). Then this upload is lost and the client must send it again."""
    if storage.backend().size(storage.blob_key(digest)) != size:
        raise Unavailable("the blob was being removed as garbage at that moment; upload it again")


def upload_blob(repository: RepositoryRow, digest: str, body: RequestBody, owner: str = "") -> BlobRow:
    """A monolithic upload (POST with ?digest=): the same path as a session, in one request."""
    if not is_supported_digest(digest):
        raise DigestInvalid(f"{digest!r} is not a valid sha256 or sha512 digest", detail={"digest": digest})
    upload = start_upload(repository, owner)
    try:
        return finish_upload(upload, digest, body)
    except Exception:
        cancel_upload(upload)
        raise


def cancel_upload(upload: UploadRow | Upload) -> None:
    hashing.forget(upload.id)
    storage.backend().delete(upload.storage_key)
    Upload.objects.filter(pk=upload.id).delete()


def upload_progress_headers(upload: UploadRow) -> dict[str, str]:
    name = upload.repository.full_name
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
        "Range": f"0-{max(upload.size - 1, 0)}",
        "Docker-Upload-UUID": str(upload.id),
    }


def _digest_of(writer: BlobWriter, state: Any, algorithm: str) -> str:
    if algorithm == "sha256" and state is not None:
        return f"sha256:{state.hexdigest()}"
    state = hashlib.new(algorithm)
    with writer.readback() as f:
        while chunk := f.read(READ_SIZE):
            state.update(chunk)
    return f"{algorithm}:{state.hexdigest()}"


def purge_stale_uploads(older_than: datetime) -> int:
    """Cancel upload sessions untouched since `older_than`; returns how many."""
    stale = list(Upload.objects.filter(updated_at__lt=older_than).select_related("repository"))
    for upload in stale:
        cancel_upload(upload)
    return len(stale)
