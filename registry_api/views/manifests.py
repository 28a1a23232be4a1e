"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>, by tag or by digest."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from portal.client_address import client_ip
from portal.names import is_digest
from registry_api import services
from registry_api.bodies import RequestBody
from registry_api.errors import Denied, ManifestTooLarge
from registry_api.gate import gate
from registry_api.views.base import RegistryRequest, registry_view


@registry_view(("GET", "HEAD", "PUT", "DELETE"), creates=True)
def manifest(request: RegistryRequest, name: str, reference: str) -> HttpResponse:
    if request.method == "PUT":
        return _put(request, name, reference)
    if request.method == "DELETE":
        services.delete_manifest(request.repository, reference, actor_id=request.principal.user_id)
        kind = "manifest_delete" if is_digest(reference) else "tag_delete"
        gate().record(kind, request.principal, client_ip=client_ip(request), repository=request.repository,
                      target=reference)
        return HttpResponse(status=202)
    found = services.get_manifest(request.repository, reference)
    if denied := gate().pull_denied(request.principal, request.repository, found):
        raise Denied(denied, detail={"reference": reference})
    if request.method == "GET":
        gate().record("pull", request.principal, client_ip=client_ip(request), repository=request.repository,
                      target=reference, soon=True, digest=found.digest)
    headers = {"Docker-Content-Digest": found.digest, "ETag": f'"{found.digest}"',
               "Content-Length": str(found.size)}
    body = b"" if request.method == "HEAD" else bytes(found.content)
    return HttpResponse(body, content_type=found.media_type, headers=headers)


def _put(request: RegistryRequest, name: str, reference: str) -> HttpResponse:
    limit = settings.WHARF_MAX_MANIFEST_BYTES
    body = RequestBody(request)
    if body.expected is not None and body.expected > limit:
        raise ManifestTooLarge(f"manifest is larger than {limit} bytes")
    try:
        data = body.read_all(limit)
    except OverflowError:
        raise ManifestTooLarge(f"manifest is larger than {limit} bytes") from None
    stored = services.put_manifest(request.repository, reference, data, request.content_type or "",
                                   actor_id=request.principal.user_id, pusher=request.principal.username,
                                   user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])
    gate().record("push", request.principal, client_ip=client_ip(request), repository=request.repository,
                  target=reference, digest=stored.digest)
    headers = {"Location": f"/v2/{name}/manifests/{stored.digest}", "Docker-Content-Digest": stored.digest,
               "Content-Length": "0"}
    if stored.subject_digest:
        headers["OCI-Subject"] = stored.subject_digest
    return HttpResponse(status=201, headers=headers)
