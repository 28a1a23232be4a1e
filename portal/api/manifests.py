"""One manifest of a repository: /api/v1/repositories/{namespace}/{name}/manifests/{digest}/"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from portal.access import Role
from portal.api import serializers as s
from portal.api.base import ApiView
from portal.api.permissions import repository_for
from portal.repositories import tags


class ManifestDetail(ApiView):
    @extend_schema(tags=["tags"], responses=s.ManifestDetailSerializer)
    def get(self, request: Request, namespace: str, name: str, digest: str) -> Response:
        """Layers with the build step of each, labels, annotations, an index's platforms, and referrers."""
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        return Response(s.ManifestDetailSerializer(tags.manifest_detail(repository, digest)).data)
