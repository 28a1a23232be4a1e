"""Teams of an organization and their members: /api/v1/organizations/{organization}/teams/…

Members of the organization may look; its admins may change. Team names are not public, so an outsider is
refused before any team is looked up.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.accounts import services as accounts
from portal.accounts.models import Team, TeamMember
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.permissions import organization_named, require_org_admin, require_org_member, team_named
from portal.client_address import client_ip

TAGS = ["teams"]
NO_CONTENT = {204: OpenApiResponse(description="Done.")}


class TeamList(ApiView):
    @extend_schema(tags=TAGS, responses=s.TeamSerializer(many=True))
    def get(self, request: Request, organization: str) -> Response:
        org = organization_named(organization)
        require_org_member(request, org, f"see the teams of '{org.name}'")
        return self.paginated(Team.objects.filter(organization=org).order_by("name"), s.TeamSerializer)

    @extend_schema(tags=TAGS, request=s.TeamCreateSerializer, responses={201: s.TeamSerializer})
    def post(self, request: Request, organization: str) -> Response:
        """Create a team: member (the team's repository permissions), creator (may also create repositories)
        or admin (administers the organization)."""
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"create teams in '{org.name}'")
        data = validated(s.TeamCreateSerializer, request)
        team = accounts.create_team(principal, org, data["name"], data["role"], data["description"],
                                    client_ip=client_ip(request))
        return Response(s.TeamSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.TeamSerializer)
    def get(self, request: Request, organization: str, team: str) -> Response:
        org = organization_named(organization)
        require_org_member(request, org, f"see the teams of '{org.name}'")
        return Response(s.TeamSerializer(team_named(org, team)).data)

    @extend_schema(tags=TAGS, request=s.TeamUpdateSerializer, responses=s.TeamSerializer)
    def patch(self, request: Request, organization: str, team: str) -> Response:
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the teams of '{org.name}'")
        row = team_named(org, team)
        data = validated(s.TeamUpdateSerializer, request, partial=True)
        accounts.update_team(principal, row, data.get("role"), data.get("description"), client_ip=client_ip(request))
        return Response(s.TeamSerializer(row).data)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, organization: str, team: str) -> Response:
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"delete the teams of '{org.name}'")
        accounts.delete_team(principal, team_named(org, team), client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberList(ApiView):
    @extend_schema(tags=TAGS, responses=s.TeamMemberSerializer(many=True))
    def get(self, request: Request, organization: str, team: str) -> Response:
        org = organization_named(organization)
        require_org_member(request, org, f"see the teams of '{org.name}'")
        members = (TeamMember.objects.filter(team=team_named(org, team)).select_related("user")
                   .order_by("user__username"))
        return self.paginated(members, s.TeamMemberSerializer)


class TeamMemberDetail(ApiView):
    @extend_schema(tags=TAGS, request=None, responses={
        200: s.TeamMemberSerializer,
        409: OpenApiResponse(description="The user is already a member; nothing changed (and nothing logged).")})
    def put(self, request: Request, organization: str, team: str, username: str) -> Response:
        """Add the user to the team; a user who is already a member gets 409 and nothing changes."""
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the teams of '{org.name}'")
        row = team_named(org, team)
        user = accounts.add_team_member(principal, row, username, client_ip=client_ip(request))
        return Response(s.TeamMemberSerializer(TeamMember.objects.get(team=row, user=user)).data)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, organization: str, team: str, username: str) -> Response:
        org = organization_named(organization)
        principal = require_org_admin(request, org, f"change the teams of '{org.name}'")
        accounts.remove_team_member(principal, team_named(org, team), username, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
