"""The caller: who it is, and (for a person) its personal API tokens: /api/v1/user/…"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.access import Principal
from portal.accounts import services as accounts
from portal.accounts.models import ApiToken, Organization, User
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.permissions import caller, refuse, require_person
from portal.client_address import client_ip
from portal.errors import NotFound

TAGS = ["user"]


class CurrentUser(ApiView):
    @extend_schema(tags=TAGS, responses=s.UserSerializer)
    def get(self, request: Request) -> Response:
        """Who the credentials speak for; a robot gets its own identity."""
        principal = caller(request)
        if not principal.is_authenticated:
            refuse(principal, "see who you are")
        return Response(s.UserSerializer(_identity(principal)).data)


def _identity(principal: Principal) -> dict[str, Any]:
    if principal.user_id is None:
        return {"username": principal.username, "email": None, "kind": principal.kind, "organizations": [],
                "scopes": None}
    user = User.objects.get(pk=principal.user_id)
    organizations = (Organization.objects.filter(teams__memberships__user=user).distinct()
                     .order_by("name").values_list("name", flat=True))
    return {"username": user.username, "email": user.email, "kind": principal.kind,
            "organizations": list(organizations),
            "scopes": sorted(principal.scopes) if principal.scopes is not None else None}


def _owner(principal: Principal) -> int:
    assert principal.user_id is not None   # require_person let only people through
    return principal.user_id


class TokenList(ApiView):
    @extend_schema(tags=TAGS, responses=s.ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The caller's API tokens, newest first (never their secrets)."""
        principal = require_person(request, "manage API tokens", "user:admin")
        tokens = ApiToken.objects.filter(user_id=_owner(principal)).order_by("-created_at", "-id")
        return self.paginated(tokens, s.ApiTokenSerializer)

    @extend_schema(tags=TAGS, request=s.ApiTokenCreateSerializer, responses={201: s.ApiTokenCreatedSerializer})
    def post(self, request: Request) -> Response:
        """A new token with the given scopes; the response carries its secret, which is not shown again."""
        principal = require_person(request, "manage API tokens", "user:admin")
        data = validated(s.ApiTokenCreateSerializer, request)
        user = User.objects.get(pk=_owner(principal))
        token, secret = accounts.create_api_token(principal, user, data["name"], data["scopes"], data["expires_at"],
                                                  client_ip=client_ip(request))
        body = {**s.ApiTokenSerializer(token).data, "token": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetail(ApiView):
    @extend_schema(tags=TAGS, responses={204: OpenApiResponse(description="Revoked; the token stops working.")})
    def delete(self, request: Request, token_id: str) -> Response:
        principal = require_person(request, "manage API tokens", "user:admin")
        token = ApiToken.objects.select_related("user").filter(pk=int(token_id), user_id=_owner(principal)).first()
        if token is None:   # someone else's token is as missing as one that never was
            raise NotFound(f"You have no API token with id {token_id}.")
        accounts.revoke_api_token(principal, token, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
