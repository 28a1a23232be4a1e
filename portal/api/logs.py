"""The audit log, newest first: an organization's (its admins) and a repository's (its admins)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from portal import audit
from portal.access import Role
from portal.api import serializers as s
from portal.api.base import ApiView
from portal.api.permissions import organization_named, repository_for, require_org_admin
from portal.audit.models import LogEntry
from portal.errors import Invalid

KIND_FILTER = OpenApiParameter("kind", str, description="Only entries of these kinds (comma-separated): "
                               + ", ".join(audit.KINDS) + ".")


def _filtered(entries: QuerySet[LogEntry], query: Any) -> QuerySet[LogEntry]:
    wanted = [kind for kind in query.get("kind", "").split(",") if kind]
    unknown = sorted(set(wanted) - set(audit.KINDS))
    if unknown:
        raise Invalid(f"Unknown log kind {', '.join(unknown)}; use any of {', '.join(audit.KINDS)}.", "kind")
    if wanted:
        entries = entries.filter(kind__in=wanted)
    return entries.order_by("-created_at", "-id")


class OrganizationLogs(ApiView):
    @extend_schema(tags=["audit log"], responses=s.LogEntrySerializer(many=True), parameters=[KIND_FILTER])
    def get(self, request: Request, organization: str) -> Response:
        """Everything recorded in the organization, its repositories included (organization admins)."""
        org = organization_named(organization)
        require_org_admin(request, org, f"read the audit log of '{org.name}'")
        entries = _filtered(LogEntry.objects.filter(namespace_id=org.namespace.pk), request.query_params)
        return self.paginated(entries, s.LogEntrySerializer)


class RepositoryLogs(ApiView):
    @extend_schema(tags=["audit log"], responses=s.LogEntrySerializer(many=True), parameters=[KIND_FILTER])
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """Everything recorded about the repository (repository admins)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "read this repository's audit log")
        entries = _filtered(LogEntry.objects.filter(repository=repository), request.query_params)
        return self.paginated(entries, s.LogEntrySerializer)
