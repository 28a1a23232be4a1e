"""Organizations, their members and their default permissions: /api/v1/organizations/…

Organization names are public, like user names: anyone may see that one exists and when it was made.
Who belongs to it is for its members; changing it is for its admins.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal import access
from portal.accounts import services as accounts
from portal.accounts.models import TeamMember, TeamRole
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.permissions import (
    caller,
    organization_named,
    require_org_admin,
    require_org_member,
    require_person,
)
from portal.client_address import client_ip
from portal.repositories import services as repositories
from portal.repositories.models import DefaultPermission

TAGS = ["organizations"]
NO_CONTENT = {204: OpenApiResponse(description="Done.")}
KIND = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=["users", "teams", "robots"])


class OrganizationList(ApiView):
    @extend_schema(tags=TAGS, request=s.OrganizationCreateSerializer, responses={201: s.OrganizationDetailSerializer})
    def post(self, request: Request) -> Response:
        """Create an organization; the caller becomes the one member of its owners team."""
        principal = require_person(request, "create organizations", "org:admin")
        name = validated(s.OrganizationCreateSerializer, request)["name"]
        organization = accounts.create_organization(principal, name, client_ip=client_ip(request))
        body = s.OrganizationDetailSerializer(organization, context={"role": TeamRole.ADMIN}).data
        return Response(body, status=status.HTTP_201_CREATED)


class OrganizationDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.OrganizationDetailSerializer)
    def get(self, request: Request, organization: str) -> Response:
        org = organization_named(organization)
        role = access.organization_role(caller(request), org)
        return Response(s.OrganizationDetailSerializer(org, context={"role": role}).data)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, organization: str) -> Response:
        """Delete the organization with its teams, robots and repositories (organization admins)."""
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"delete '{org.name}'")
        accounts.delete_organization(principal, org, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(ApiView):
    @extend_schema(tags=TAGS, responses=s.OrganizationMemberSerializer(many=True))
    def get(self, request: Request, organization: str) -> Response:
        """Every member of the organization with their teams (organization members)."""
        org = organization_named(organization)
        require_org_member(request, org, f"see the members of '{org.name}'")
        return self.paginated(_members(org), s.OrganizationMemberSerializer)


def _members(org: Any) -> list[dict[str, Any]]:
    teams: dict[str, list[str]] = defaultdict(list)
    roles: dict[str, int] = defaultdict(int)
    memberships = (TeamMember.objects.filter(team__organization=org)
                   .values_list("user__username", "team__name", "team__role").order_by("user__username", "team__name"))
    for username, team, role in memberships:
        teams[username].append(team)
        roles[username] = max(roles[username], role)
    return [{"username": username, "teams": names, "role": TeamRole(roles[username]).label}
            for username, names in teams.items()]


class DefaultPermissionList(ApiView):
    @extend_schema(tags=TAGS, responses=s.GrantSerializer(many=True))
    def get(self, request: Request, organization: str) -> Response:
        """The roles every new repository of the organization grants (organization admins)."""
        org = organization_named(organization)
        require_org_admin(request, org, f"see the default permissions of '{org.name}'")
        return self.paginated([s.grant_of(row) for row in _defaults(org)], s.GrantSerializer)


def _defaults(org: Any) -> Any:
    return (DefaultPermission.objects.filter(organization=org)
            .select_related("user", "team", "robot__namespace").order_by("-role", "id"))


class DefaultPermissionDetail(ApiView):
    @extend_schema(tags=TAGS, request=s.RoleSerializer, responses=s.GrantSerializer, parameters=[KIND])
    def put(self, request: Request, organization: str, kind: str, who: str) -> Response:
        """Grant a role on every repository created from now on (existing ones keep their permissions)."""
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the default permissions of '{org.name}'")
        role = validated(s.RoleSerializer, request)["role"]
        row = repositories.set_default_permission(principal, org.namespace, kind, who, role,
                                                  client_ip=client_ip(request))
        return Response(s.grant_of(row))

    @extend_schema(tags=TAGS, responses=NO_CONTENT, parameters=[KIND])
    def delete(self, request: Request, organization: str, kind: str, who: str) -> Response:
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the default permissions of '{org.name}'")
        repositories.delete_default_permission(principal, org.namespace, kind, who, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

