"""The security policy of an organization or a repository: /api/v1/…/security-policy/ (its admins).

Pulls of images whose scan found something at or above `block_severity` (and, with `block_unscanned`, of
images not scanned yet) are denied to everyone but the repository's admins (portal.repositories.scan_policy).
A repository's own policy overrides its organization's; DELETE removes the policy set here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.access import Role
from portal.accounts.models import Namespace
from portal.api.base import ApiView, validated
from portal.api.permissions import caller, organization_named, repository_for, require_org_admin
from portal.client_address import client_ip
from portal.repositories import scan_policy
from portal.repositories.models import BlockSeverity, Repository

NO_CONTENT = {204: OpenApiResponse(description="Done: the policy set here is removed.")}
SEVERITY_HELP = ("Pulls of images with findings of this severity or above are denied (off: none). Unknown and "
                 "negligible findings never block.")


class ScanPolicySerializer(serializers.Serializer):
    block_severity = serializers.ChoiceField(
        choices=BlockSeverity.values, help_text=SEVERITY_HELP,
        error_messages={"invalid_choice": "The severity is one of off, low, medium, high, critical."})
    block_unscanned = serializers.BooleanField(
        default=False, help_text="Also deny pulls of images not scanned yet (queued, scanning or failed).")


class ScanPolicyDetailSerializer(ScanPolicySerializer):
    own = serializers.BooleanField(help_text="Whether the policy is set here (else the default, or inherited).")
    inherited_from = serializers.CharField(
        allow_null=True, help_text="A repository without a policy of its own: the organization it follows.")


def _answer(owner: Namespace | Repository) -> Response:
    return Response(asdict(scan_policy.setting_of(owner)))


def _set(request: Request, owner: Namespace | Repository) -> Response:
    data: dict[str, Any] = validated(ScanPolicySerializer, request)
    scan_policy.set_policy(caller(request), owner, data["block_severity"], data["block_unscanned"],
                           client_ip=client_ip(request))
    return _answer(owner)


class RepositoryScanPolicy(ApiView):
    TAGS = ["repositories"]

    @extend_schema(tags=TAGS, responses=ScanPolicyDetailSerializer)
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The policy in force for the repository's pulls (repository admins)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "see this repository's security policy")
        return _answer(repository)

    @extend_schema(tags=TAGS, request=ScanPolicySerializer, responses=ScanPolicyDetailSerializer)
    def put(self, request: Request, namespace: str, name: str) -> Response:
        """Set the repository's own policy, which overrides its organization's ("off" included)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "change this repository's security policy")
        return _set(request, repository)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, namespace: str, name: str) -> Response:
        """Remove the repository's own policy: it follows its organization's again."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "change this repository's security policy")
        scan_policy.clear_policy(caller(request), repository, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationScanPolicy(ApiView):
    TAGS = ["organizations"]

    @extend_schema(tags=TAGS, responses=ScanPolicyDetailSerializer)
    def get(self, request: Request, organization: str) -> Response:
        """The policy of the organization's repositories that have none of their own (organization admins)."""
        org = organization_named(organization)
        require_org_admin(request, org, f"see the security policy of '{org.name}'")
        return _answer(org.namespace)

    @extend_schema(tags=TAGS, request=ScanPolicySerializer, responses=ScanPolicyDetailSerializer)
    def put(self, request: Request, organization: str) -> Response:
        org = organization_named(organization)
        require_org_admin(request, org, f"change the security policy of '{org.name}'")
        return _set(request, org.namespace)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, organization: str) -> Response:
        """Remove the organization's policy (pulls are no longer blocked, but where a repository has its own)."""
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the security policy of '{org.name}'")
        scan_policy.clear_policy(principal, org.namespace, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
