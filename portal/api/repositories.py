"""Repositories and their permissions: /api/v1/repositories/…"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal import access
from portal.access import Role
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.permissions import caller, namespace_named, refuse, repository_for
from portal.client_address import client_ip
from portal.errors import NotFound
from portal.repositories import services
from portal.repositories.models import RepositoryPermission

TAGS = ["repositories"]
NO_CONTENT = {204: OpenApiResponse(description="Done.")}


class RepositoryList(ApiView):
    @extend_schema(tags=TAGS, responses=s.RepositorySerializer(many=True), parameters=[
        OpenApiParameter("namespace", str, description="Only this user's or organization's repositories.")])
    def get(self, request: Request) -> Response:
        """The repositories the caller may read, by name."""
        repositories = access.readable_repositories(caller(request)).select_related("namespace")
        if namespace := request.query_params.get("namespace"):
            repositories = repositories.filter(namespace__name=namespace)
        return self.paginated(repositories.order_by("full_name"), s.RepositorySerializer)

    @extend_schema(tags=TAGS, request=s.RepositoryCreateSerializer, responses={201: s.RepositoryDetailSerializer})
    def post(self, request: Request) -> Response:
        """Create a repository in the caller's namespace, or in an organization where it is creator or admin."""
        principal = caller(request)
        if not principal.is_authenticated:
            refuse(principal, "create repositories")
        data = validated(s.RepositoryCreateSerializer, request)
        namespace = namespace_named(data["namespace"])
        if not access.may_create_in(principal, namespace):
            refuse(principal, f"create repositories in '{namespace.name}'", "repo:create",
                   lambda full: access.may_create_in(full, namespace),
                   " (only its owner, or members of its teams with the creator or admin role, may)")
        repository = services.create_repository(principal, namespace, data["name"], data["visibility"],
                                                 data["description"], client_ip=client_ip(request))
        role = access.repository_role(principal, repository, repository.full_name)
        body = s.RepositoryDetailSerializer(repository, context={"role": _word(role)}).data
        return Response(body, status=status.HTTP_201_CREATED)


class RepositoryDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.RepositoryDetailSerializer)
    def get(self, request: Request, namespace: str, name: str) -> Response:
        repository, role = repository_for(request, namespace, name, Role.READ, "read")
        return Response(s.RepositoryDetailSerializer(repository, context={"role": _word(role)}).data)

    @extend_schema(tags=TAGS, request=s.RepositoryUpdateSerializer, responses=s.RepositoryDetailSerializer)
    def patch(self, request: Request, namespace: str, name: str) -> Response:
        """Change the visibility or the description (repository admins)."""
        repository, role = repository_for(request, namespace, name, Role.ADMIN, "change this repository")
        data = validated(s.RepositoryUpdateSerializer, request, partial=True)
        services.update_repository(caller(request), repository, data.get("visibility"), data.get("description"),
                                   client_ip=client_ip(request))
        return Response(s.RepositoryDetailSerializer(repository, context={"role": _word(role)}).data)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, namespace: str, name: str) -> Response:
        """Delete the repository with its tags and manifests (repository admins)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "delete this repository")
        services.delete_repository(caller(request), repository, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PermissionList(ApiView):
    @extend_schema(tags=TAGS, responses=s.GrantSerializer(many=True))
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """Who holds which role on the repository (repository admins)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "see this repository's permissions")
        grants = (RepositoryPermission.objects.filter(repository=repository)
                  .select_related("user", "team", "robot__namespace").order_by("-role", "id"))
        return self.paginated([s.grant_of(row) for row in grants], s.GrantSerializer)


KIND = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=["users", "teams", "robots"])


class PermissionDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.GrantSerializer, parameters=[KIND])
    def get(self, request: Request, namespace: str, name: str, kind: str, who: str) -> Response:
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "see this repository's permissions")
        grantee = services.grantee(repository.namespace, kind, who)
        row = RepositoryPermission.objects.filter(repository=repository, **grantee).first()
        if row is None:
            raise NotFound(f"'{who}' has no permission on {repository.full_name}.", "who")
        return Response(s.grant_of(row))

    @extend_schema(tags=TAGS, request=s.RoleSerializer, responses=s.GrantSerializer, parameters=[KIND])
    def put(self, request: Request, namespace: str, name: str, kind: str, who: str) -> Response:
        """Grant (or change) a user's, team's or robot's role on the repository."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "change this repository's permissions")
        role = validated(s.RoleSerializer, request)["role"]
        row = services.set_permission(caller(request), repository, kind, who, role, client_ip=client_ip(request))
        return Response(s.grant_of(row))

    @extend_schema(tags=TAGS, responses=NO_CONTENT, parameters=[KIND])
    def delete(self, request: Request, namespace: str, name: str, kind: str, who: str) -> Response:
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "change this repository's permissions")
        services.delete_permission(caller(request), repository, kind, who, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _word(role: Role) -> str | None:
    return role.name.lower() if role else None
