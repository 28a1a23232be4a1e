"""A repository's tags, their history and restores: /api/v1/repositories/{namespace}/{name}/tags/…

Reading needs the read role; changing a tag (retag, expiry, delete, restore) needs write, and an API token
needs the repo:write scope for it. The rules live in portal.repositories.tags.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from portal.access import Role
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.pagination import Pagination
from portal.api.permissions import caller, repository_for
from portal.client_address import client_ip
from portal.errors import Invalid
from portal.repositories import tags
from registry_api.models import Tag

TAGS = ["tags"]
NO_CONTENT = {204: OpenApiResponse(description="Done.")}
PAGE = [OpenApiParameter("page", int, description="A page past the end gives the last page."),
        OpenApiParameter("per_page", int, description=f"Up to {Pagination.max_page_size} (default 50).")]
FILTER = OpenApiParameter("filter", str, description="Only tags whose name contains this (any case).")


def _page_params(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", 1))
    except ValueError:
        raise Invalid("page must be a whole number, starting at 1.", "page") from None
    try:   # like the other lists: a bad per_page falls back to the default
        per_page = int(request.query_params.get("per_page", 50))
    except ValueError:
        per_page = 50
    return page, min(max(per_page, 1), Pagination.max_page_size)


def _page_response(request: Request, results: Any, count: int, page: int, per_page: int) -> Response:
    """The {count, next, previous, results} shape of every list in /api/v1/."""
    url = request.build_absolute_uri()
    last = max(1, -(-count // per_page))
    following = replace_query_param(url, "page", page + 1) if page < last else None
    if page <= 1:
        previous = None
    else:
        previous = remove_query_param(url, "page") if page == 2 else replace_query_param(url, "page", page - 1)
    return Response({"count": count, "next": following, "previous": previous, "results": results})


class TagList(ApiView):
    @extend_schema(tags=TAGS, responses=s.TagSerializer(many=True), parameters=[FILTER, *PAGE])
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The repository's tags, most recently changed first, with size, scan summary and platforms."""
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        page, per_page = _page_params(request)
        found = tags.tag_page(repository, name_filter=request.query_params.get("filter", ""), page=page,
                              per_page=per_page)
        return _page_response(request, s.TagSerializer(found.rows, many=True).data, found.total, found.page,
                              found.per_page)


class TagDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.TagSerializer)
    def get(self, request: Request, namespace: str, name: str, tag: str) -> Response:
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        return Response(s.TagSerializer(tags.tag_row(repository, tag)).data)

    @extend_schema(tags=TAGS, request=s.TagUpdateSerializer, responses={200: s.TagSerializer, 201: s.TagSerializer})
    def put(self, request: Request, namespace: str, name: str, tag: str) -> Response:
        """Point the tag at a manifest (201 when the tag is new), and/or set or clear its expiry (writers)."""
        repository, _ = repository_for(request, namespace, name, Role.WRITE, "change tags in this repository")
        data = validated(s.TagUpdateSerializer, request)
        if "expires_at" in data:
            tags.validate_expiry(data["expires_at"])   # before anything moves: a refusal changes nothing
        principal = caller(request)
        created = False
        with transaction.atomic():
            if "manifest_digest" in data:
                created = not Tag.objects.live().filter(repository=repository, name=tag).exists()
                tags.retag(principal, repository, tag, data["manifest_digest"], client_ip=client_ip(request))
            if "expires_at" in data:
                tags.set_expiry(principal, repository, tag, data["expires_at"], client_ip=client_ip(request))
        body = s.TagSerializer(tags.tag_row(repository, tag)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(tags=TAGS, responses=NO_CONTENT)
    def delete(self, request: Request, namespace: str, name: str, tag: str) -> Response:
        """Remove the tag (not its manifest); it stays restorable from the history (writers)."""
        repository, _ = repository_for(request, namespace, name, Role.WRITE, "delete tags in this repository")
        tags.delete_tag(caller(request), repository, tag, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagHistory(ApiView):
    @extend_schema(tags=TAGS, responses=s.HistoryEntrySerializer(many=True), parameters=PAGE)
    def get(self, request: Request, namespace: str, name: str, tag: str) -> Response:
        """Every push, move and deletion of the tag within the retention window, newest first."""
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        return _history(request, repository, tag)


class RepositoryHistory(ApiView):
    @extend_schema(tags=TAGS, responses=s.HistoryEntrySerializer(many=True), parameters=PAGE)
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The history of every tag of the repository within the retention window, newest first."""
        repository, _ = repository_for(request, namespace, name, Role.READ, "read")
        return _history(request, repository, None)


def _history(request: Request, repository: Any, tag: str | None) -> Response:
    page, per_page = _page_params(request)
    entries, total = tags.tag_history(repository, tag, page=page, per_page=per_page)
    page = min(max(page, 1), max(1, -(-total // per_page)))
    return _page_response(request, s.HistoryEntrySerializer(entries, many=True).data, total, page, per_page)


class TagRestore(ApiView):
    @extend_schema(tags=TAGS, request=s.TagRestoreSerializer, responses=s.TagSerializer)
    def post(self, request: Request, namespace: str, name: str, tag: str) -> Response:
        """Point the tag back at a manifest from its history (a deleted tag comes back) (writers)."""
        repository, _ = repository_for(request, namespace, name, Role.WRITE, "restore tags in this repository")
        digest = validated(s.TagRestoreSerializer, request)["manifest_digest"]
        row = tags.restore_tag(caller(request), repository, tag, digest, client_ip=client_ip(request))
        return Response(s.TagSerializer(row).data)
