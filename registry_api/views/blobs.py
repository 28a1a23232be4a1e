"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>: bytes go out with sendfile, ranges included."""

from __future__ import annotations

import re
from typing import BinaryIO

from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from portal.names import is_supported_digest
from registry_api import services, storage
from registry_api.errors import DigestInvalid, RangeInvalid
from registry_api.queries import BlobRow
from registry_api.views.base import RegistryRequest, registry_view

RANGE_RE = re.compile(r"(\d*)-(\d*)")
STREAM_BLOCK = 1 << 20


class RangeFile:
    """A file limited to `length` bytes from its current position. It keeps `fileno()`, so the server can
    still sendfile it (gunicorn sends Content-Length bytes from the descriptor's offset)."""

    def __init__(self, f: BinaryIO, length: int) -> None:
        self._file, self._remaining = f, length

    def read(self, size: int = -1) -> bytes:
        size = self._remaining if size < 0 else min(size, self._remaining)
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


@registry_view(("GET", "HEAD", "DELETE"))
def blob(request: RegistryRequest, name: str, digest: str) -> HttpResponseBase:
    if not is_supported_digest(digest):
        raise DigestInvalid(detail={"digest": digest})
    if request.method == "DELETE":
        services.unlink_blob(request.repository, digest)
        return HttpResponse(status=202, headers={"Docker-Content-Digest": digest})
    return serve_blob(request, services.linked_blob(request.repository, digest))


def serve_blob(request: RegistryRequest, blob: BlobRow) -> HttpResponseBase:
    key = storage.blob_key(blob.digest)
    headers = {"Docker-Content-Digest": blob.digest, "ETag": f'"{blob.digest}"', "Accept-Ranges": "bytes",
               "Cache-Control": "max-age=31536000"}
    if url := storage.backend().redirect_url(key, request.method or "GET"):
        redirect = HttpResponseRedirect(url, status=307)
        for header, value in headers.items():
            redirect[header] = value
        return redirect
    requested = parse_range(request.META.get("HTTP_RANGE"), blob.size)
    start, end = requested or (0, blob.size - 1)
    length = end - start + 1
    status = 206 if requested else 200
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    if request.method == "HEAD":
        return HttpResponse(status=status, content_type="application/octet-stream",
                            headers={**headers, "Content-Length": str(length)})
    response = FileResponse(RangeFile(storage.backend().open(key, offset=start), length), status=status,
                            content_type="application/octet-stream", headers=headers)
    response["Content-Length"] = str(length)
    # Files go out with sendfile; a stream without a descriptor (an object store's) in larger reads.
    response.block_size = STREAM_BLOCK
    return response


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range a client asked for, as (first, last); None for the whole blob.

    As RFC 9110 allows, a range in another unit and a multi-range request are ignored (200 with the
    whole blob) rather than refused.
    """
    unit, _, spec = (header or "").strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = RANGE_RE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeInvalid(headers={"Content-Range": f"bytes */{size}"})
    first, last = match.groups()
    if first == "":   # a suffix: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeInvalid(headers={"Content-Range": f"bytes */{size}"})
    return start, end
