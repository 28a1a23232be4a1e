"""Tag listing with n/last pagination, and the referrers API."""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse

from portal.names import is_supported_digest
from registry_api import services
from registry_api.content import OCI_INDEX
from registry_api.errors import DigestInvalid
from registry_api.views.base import RegistryRequest, next_link, page_size, registry_view


@registry_view(("GET",))
def tag_list(request: RegistryRequest, name: str) -> HttpResponse:
    n = page_size(request)
    tags, more = services.list_tags(request.repository, n, request.GET.get("last"))
    response = JsonResponse({"name": name, "tags": tags})
    if more and tags:
        response["Link"] = next_link(f"/v2/{name}/tags/list", n or 0, tags[-1])
    return response


# The spec: a registry that supports the referrers API MUST NOT answer 404 here; a repository that does not
# exist yet (for a caller who could read it, i.e. create it) has no referrers.
@registry_view(("GET",), absent_ok=True)
def referrers(request: RegistryRequest, name: str, digest: str) -> HttpResponse:
    if not is_supported_digest(digest):
        raise DigestInvalid(detail={"digest": digest})
    artifact_type = request.GET.get("artifactType") or None
    found = [] if request.repository is None else services.referrers(request.repository, digest, artifact_type)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    response = HttpResponse(json.dumps(index), content_type=OCI_INDEX)
    if artifact_type:
        response["OCI-Filters-Applied"] = "artifactType"
    return response
