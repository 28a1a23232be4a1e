"""Blob uploads: monolithic, POST+PUT, streamed and chunked PATCH, status, cancel, cross-repository mount."""

from __future__ import annotations

import re

from django.http import HttpResponse

from portal.names import is_valid_name
from registry_api import services
from registry_api.bodies import RequestBody
from registry_api.errors import BlobUploadInvalid
from registry_api.gate import gate
from registry_api.queries import BlobRow, UploadRow
from registry_api.views.base import RegistryRequest, registry_view

CONTENT_RANGE_RE = re.compile(r"(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def _created(name: str, blob: BlobRow) -> HttpResponse:
    return HttpResponse(status=201, headers={"Location": f"/v2/{name}/blobs/{blob.digest}",
                                             "Docker-Content-Digest": blob.digest, "Content-Length": "0"})


def _progress(upload: UploadRow, status: int) -> HttpResponse:
    return HttpResponse(status=status, headers={**services.upload_progress_headers(upload), "Content-Length": "0"})


@registry_view(("POST",), creates=True)
def start(request: RegistryRequest, name: str) -> HttpResponse:
    repository = request.repository
    if (mounted := _mount(request)) is not None:
        return _created(name, mounted)
    if digest := request.GET.get("digest"):
        owner = services.upload_owner(request.principal)
        return _created(name, services.upload_blob(repository, digest, RequestBody(request), owner))
    return _progress(services.start_upload(repository, services.upload_owner(request.principal)), 202)


def _mount(request: RegistryRequest) -> BlobRow | None:
    """Mount only from a repository the caller may read; otherwise the client gets a normal upload."""
    digest, source_name = request.GET.get("mount"), request.GET.get("from")
    if not digest or not source_name or not is_valid_name(source_name):
        return None
    # The token must carry pull on the source: a token scoped to one repository stays in it.
    if not request.claims.allows("repository", source_name, "pull"):
        return None
    source = services.get_repository(source_name)
    if source is None or not gate().allowed_actions(request.principal, source, source_name, ["pull"]):
        return None
    return services.mount_blob(request.repository, digest, source)


@registry_view(("GET", "PATCH", "PUT", "DELETE"))
def session(request: RegistryRequest, name: str, upload_id: str) -> HttpResponse:
    upload = services.get_upload(request.repository, upload_id)
    if request.method == "GET":
        return _progress(upload, 204)
    if request.method == "DELETE":
        services.cancel_upload(upload)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        content_range = _content_range(request.META.get("HTTP_CONTENT_RANGE"))
        return _progress(services.append_to_upload(upload, RequestBody(request), content_range), 202)
    digest = request.GET.get("digest", "")
    content_range = _content_range(request.META.get("HTTP_CONTENT_RANGE"))
    return _created(name, services.finish_upload(upload, digest, RequestBody(request), content_range))


def _content_range(header: str | None) -> tuple[int, int] | None:
    if not header:
        return None
    match = CONTENT_RANGE_RE.fullmatch(header.strip())
    if match is None or int(match.group(1)) > int(match.group(2)):
        raise BlobUploadInvalid(f"malformed Content-Range {header!r}")
    return int(match.group(1)), int(match.group(2))
