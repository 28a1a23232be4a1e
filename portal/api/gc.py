"""Garbage-collection runs, read-only, for superusers: /api/v1/superuser/gc/runs/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.base import ApiView
from portal.api.permissions import caller, refuse
from portal.errors import NotFound
from registry_api.models import GcRun


class GcRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dry_run = serializers.BooleanField(help_text="A dry run counted what would go and removed nothing.")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True, help_text="null while the run goes on.")
    duration_seconds = serializers.FloatField(allow_null=True)
    manifests_removed = serializers.IntegerField()
    links_removed = serializers.IntegerField(help_text="Repositories' claims on blobs that no manifest used.")
    blobs_removed = serializers.IntegerField()
    objects_removed = serializers.IntegerField(help_text="Storage objects that had no row (debris).")
    bytes_freed = serializers.IntegerField()
    error = serializers.CharField(help_text="Why the run stopped early; empty when it finished.")


class GcRuns(ApiView):
    @extend_schema(tags=["superuser"], responses=GcRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Garbage-collection runs, newest first (superusers; to anyone else the route does not exist)."""
        principal = caller(request)
        if not principal.is_authenticated:
            refuse(principal, "see garbage-collection runs")
        if not (principal.is_superuser and principal.is_person and principal.is_active):
            # As for any route that does not exist (portal.api.base.not_found).
            raise NotFound("There is no such API route; check the path (API paths end in a slash) in /api/v1/docs/.")
        return self.paginated(GcRun.objects.order_by("-started_at", "-id"), GcRunSerializer)
