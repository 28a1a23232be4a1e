"""What the scanner found in one manifest: /api/v1/repositories/{namespace}/{name}/manifests/{digest}/security/…

Readers of the repository see the summary, the findings, the inventory and the SBOM; writers (robots with
write and API tokens with repo:write among them) may ask for a re-scan. A private repository's security data
answers outsiders exactly as a missing repository does: 404.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.access import Role
from portal.api.base import ApiView
from portal.api.permissions import repository_for
from portal.errors import Invalid, NotFound
from registry_api.models import Manifest
from scanning import receivers, reports, sbom, services
from scanning.models import Finding, ScanSummary
from scanning.severity import Severity

TAGS = ["security"]
SEVERITIES = [severity.label.lower() for severity in Severity]


class SummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(["not_scanned", "queued", "scanning", "done", "failed", "unsupported"])
    reason = serializers.CharField(help_text="Why the scan failed or the manifest is unsupported.")
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    negligible = serializers.IntegerField()
    unknown = serializers.IntegerField()
    fixable = serializers.IntegerField(help_text="Findings that name a fixed version.")
    scanned_at = serializers.DateTimeField(allow_null=True)


def summary_data(summary: ScanSummary | None) -> dict[str, Any]:
    if summary is None:
        return {"status": "not_scanned", "reason": "", **dict.fromkeys(services.SEVERITY_FIELDS, 0), "fixable": 0,
                "scanned_at": None}
    return dict(SummarySerializer(summary).data)


class FindingPackageSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    kind = serializers.CharField(help_text="dpkg, apk, rpm, python, npm.")
    ecosystem = serializers.CharField(help_text='The OSV ecosystem it is matched in ("Debian:12", "PyPI"); "" '
                                                "when none is known.")


class InventoryPackageSerializer(FindingPackageSerializer):
    source_name = serializers.CharField()
    source_version = serializers.CharField()
    layer_digest = serializers.CharField(help_text="The layer the package came in.")
    path = serializers.CharField(help_text="The package database or metadata file it was read from.")


class FindingSerializer(serializers.Serializer):
    advisory = serializers.CharField(help_text="The advisory's id (GHSA-…, DSA-…, CVE-…).")
    aliases = serializers.ListField(child=serializers.CharField())
    merge_key = serializers.CharField(help_text="What advisories of one vulnerability share: the CVE, usually.")
    package = FindingPackageSerializer()
    fixed_version = serializers.CharField(help_text='"" when no fix is known.')
    severity = serializers.CharField()
    summary = serializers.CharField()
    layer_digest = serializers.CharField()


def finding_data(finding: Finding) -> dict[str, Any]:
    package, advisory = finding.package, finding.advisory
    return {"advisory": advisory.osv_id, "aliases": advisory.aliases, "merge_key": finding.merge_key,
            "package": {"name": package.name, "version": package.version, "kind": package.kind,
                        "ecosystem": package.ecosystem},
            "fixed_version": finding.fixed_version, "severity": Severity(finding.severity).label.lower(),
            "summary": advisory.summary, "layer_digest": package.layer_digest}


class PlatformScanSerializer(serializers.Serializer):
    digest = serializers.CharField()
    os = serializers.CharField()
    architecture = serializers.CharField()
    variant = serializers.CharField()
    summary = SummarySerializer()


class SecurityReportSerializer(serializers.Serializer):
    digest = serializers.CharField()
    summary = SummarySerializer()
    platforms = PlatformScanSerializer(many=True, help_text="An index's platforms, each with its own summary.")
    count = serializers.IntegerField(help_text="Findings that pass the filters.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = FindingSerializer(many=True)


class RescanSerializer(serializers.Serializer):
    queued = serializers.BooleanField(help_text="false when a scan is running already (it is not started twice).")
    status = serializers.CharField()


def manifest_for(request: Request, namespace: str, name: str, digest: str, need: Role, what: str) -> Manifest:
    repository, _ = repository_for(request, namespace, name, need, what)
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
    if manifest is None:
        raise NotFound(f"There is no manifest {digest} in {repository.full_name}.", "digest")
    return manifest


FILTERS = [OpenApiParameter("severity", str, enum=SEVERITIES, description="Only findings at or above it."),
           OpenApiParameter("fixable", bool, description="true: only findings with a fix; false: without.")]


class SecurityReport(ApiView):
    @extend_schema(tags=TAGS, responses=SecurityReportSerializer, parameters=FILTERS)
    def get(self, request: Request, namespace: str, name: str, digest: str) -> Response:
        """The scan's summary and findings, worst first (an index: its platforms' summaries, no findings)."""
        manifest = manifest_for(request, namespace, name, digest, Role.READ, "read")
        rows = reports.findings(manifest.pk, _severity(request), _boolean(request, "fixable"))
        page = self.paginate_queryset(rows)
        assert page is not None
        response = self.get_paginated_response([finding_data(finding) for finding in page])
        platforms = [{"digest": p.digest, "os": p.os, "architecture": p.architecture, "variant": p.variant,
                      "summary": summary_data(p.summary)} for p in reports.platforms(manifest)]
        response.data = {"digest": manifest.digest, "summary": summary_data(reports.summary_of(manifest.pk)),
                         "platforms": platforms, **response.data}
        return response


class SecurityPackages(ApiView):
    @extend_schema(tags=TAGS, responses=InventoryPackageSerializer(many=True), parameters=[
        OpenApiParameter("name", str, description="Only packages whose name contains this.")])
    def get(self, request: Request, namespace: str, name: str, digest: str) -> Response:
        """The image's inventory, by name."""
        manifest = manifest_for(request, namespace, name, digest, Role.READ, "read")
        rows = reports.packages(manifest.pk, request.query_params.get("name", "").strip())
        return self.paginated(rows, InventoryPackageSerializer)


class SecurityRescan(ApiView):
    @extend_schema(tags=TAGS, request=None, responses={202: RescanSerializer})
    def post(self, request: Request, namespace: str, name: str, digest: str) -> Response:
        """Scan the manifest again (and an index's platforms), with the advisories stored now (writers)."""
        manifest = manifest_for(request, namespace, name, digest, Role.WRITE, "request a re-scan")
        queued = services.request_rescan(manifest.pk)
        if queued:
            transaction.on_commit(lambda: receivers.send(manifest.pk))
        summary = reports.summary_of(manifest.pk)
        body = {"queued": queued, "status": summary.status if summary else "queued"}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SecuritySbom(ApiView):
    @extend_schema(tags=TAGS, responses={(200, sbom.MEDIA_TYPE): OpenApiResponse(
        OpenApiTypes.OBJECT, description="The CycloneDX 1.6 JSON document, as attached to the image.")})
    def get(self, request: Request, namespace: str, name: str, digest: str) -> HttpResponse:
        """The image's SBOM (its CycloneDX referrer); 404 until a scan has made one."""
        manifest = manifest_for(request, namespace, name, digest, Role.READ, "read")
        document = sbom.current_sbom(manifest)
        if document is None:
            raise NotFound(f"{manifest.digest} has no SBOM (it is made when an image's scan is done).", "digest")
        return HttpResponse(document, content_type=sbom.MEDIA_TYPE)


def _severity(request: Request) -> Severity | None:
    value = request.query_params.get("severity", "").strip().lower()
    if not value:
        return None
    if value not in SEVERITIES:
        raise Invalid(f"severity must be one of {', '.join(SEVERITIES)}.", "severity")
    return Severity.parse(value)


def _boolean(request: Request, field: str) -> bool | None:
    value = request.query_params.get(field, "").strip().lower()
    if not value:
        return None
    if value not in ("true", "false", "1", "0"):
        raise Invalid(f"{field} must be true or false.", field)
    return value in ("true", "1")
