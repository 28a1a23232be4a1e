"""What every API view shares: JSON in and out, pagination, and input checked by a serializer."""

from __future__ import annotations

import io
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.exceptions import ParseError
from rest_framework.metadata import SimpleMetadata
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from portal.errors import NotFound
from portal.jsondepth import TooDeep, check_depth


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. invalid, conflict, not_found, forbidden, not_authenticated.")
    message = serializers.CharField(help_text="What went wrong, in words a person can act on.")
    field = serializers.CharField(required=False, help_text="The input field at fault, when there is one.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ApiSchema(AutoSchema):
    """Documents the one error shape beside each operation's own responses."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        responses.setdefault("default", self._get_response_for_code(ErrorSerializer, "default", direction=direction))
        responses["default"]["description"] = "An error (400, 401, 403, 404, 409, 429)."
        return responses


class ApiMetadata(SimpleMetadata):
    """OPTIONS answers with the route's name, description and formats; the OpenAPI schema has the rest.

    (DRF's default would describe the serializer of a PUT by fetching the object through a queryset, which
    these views do not have: they look things up with the access rules.)"""

    def determine_actions(self, request: Any, view: Any) -> dict[str, Any]:
        return {}


class ShallowJSONParser(JSONParser):
    """DRF's JSON parser, refusing a body that nests deeper than portal.jsondepth allows before parsing it
    (100,000 `[` would exhaust Python's recursion limit inside json.load: a 500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = stream.read()
        try:
            check_depth(data)
            return super().parse(io.BytesIO(data), media_type, parser_context)
        except (TooDeep, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc or 'nested too deep'}") from None


class ApiView(generics.GenericAPIView):  # type: ignore[type-arg]
    # JSON only: every answer, errors included, is JSON, and the docs page serves people with browsers.
    renderer_classes = [JSONRenderer]
    parser_classes = [ShallowJSONParser]
    metadata_class = ApiMetadata
    schema = ApiSchema()

    def paginated(self, items: Any, serializer_class: type[serializers.Serializer], **context: Any) -> Response:
        """One page of `items` (a queryset in a stable order, or a list) as `serializer_class` data."""
        page = self.paginate_queryset(items)
        assert page is not None   # the settings give every view a paginator
        return self.get_paginated_response(serializer_class(page, many=True, context=context).data)


def validated(serializer_class: type[serializers.Serializer], request: Request, partial: bool = False) -> Any:
    """The request body checked by `serializer_class` (400 with the first problem otherwise)."""
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@renderer_classes([JSONRenderer])
def not_found(request: Request) -> Response:
    raise NotFound("There is no such API route; check the path (API paths end in a slash) in /api/v1/docs/.")
