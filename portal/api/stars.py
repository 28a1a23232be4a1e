"""Stars, a person's bookmarks: PUT|DELETE /api/v1/repositories/{namespace}/{name}/star/ and
GET /api/v1/user/starred/. Starring needs only the read role, and a person (robots have no bookmarks)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.access import Principal, Role
from portal.accounts.models import User
from portal.api import serializers as s
from portal.api.base import ApiView
from portal.api.permissions import repository_for, require_person
from portal.repositories import stars
from portal.repositories.models import Repository

TAGS = ["stars"]


def _starring(request: Request, namespace: str, name: str) -> tuple[User, Repository]:
    repository, _ = repository_for(request, namespace, name, Role.READ, "read")
    principal = require_person(request, "star repositories", "repo:read")
    return _person(principal), repository


def _person(principal: Principal) -> User:
    assert principal.user_id is not None   # require_person let only people through
    return User.objects.get(pk=principal.user_id)


class Star(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=s.StarSerializer)
    def put(self, request: Request, namespace: str, name: str) -> Response:
        """Star the repository (starring twice is the same as once)."""
        user, repository = _starring(request, namespace, name)
        stars.star(user, repository)
        return Response({"repository": repository.full_name, "starred": True})

    @extend_schema(tags=TAGS, responses={204: OpenApiResponse(description="Done (also when it was not starred).")})
    def delete(self, request: Request, namespace: str, name: str) -> Response:
        user, repository = _starring(request, namespace, name)
        stars.unstar(user, repository)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StarredList(ApiView):
    @extend_schema(tags=["user"], responses=s.RepositorySerializer(many=True))
    def get(self, request: Request) -> Response:
        """The caller's starred repositories that it may still read, most recently starred first."""
        principal = require_person(request, "see starred repositories", "repo:read")
        starred: Any = stars.starred_repositories(_person(principal))
        return self.paginated(starred, s.RepositorySerializer)
