"""Every API error is JSON: {"error": {"code", "message", "field"?}}, with the status that fits."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ServiceError


def _first_problem(detail: Any) -> tuple[str, str | None]:
    """The first problem in a ValidationError's detail (a string, a list, or a dict of field errors), with its
    field. One sentence a person can act on beats a nested structure."""
    if isinstance(detail, dict) and detail:
        field, value = next(iter(detail.items()))
        text, inner = _first_problem(value)
        if field == "non_field_errors":
            return text, inner
        return f"{field}: {text}", str(field) if inner is None else f"{field}.{inner}"
    if isinstance(detail, list) and detail:
        return _first_problem(detail[0])
    return str(detail), None


def _service_error(exc: ServiceError) -> Response:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    response = Response({"error": body}, status=exc.status)
    retry_after = getattr(exc, "retry_after", None)   # Throttled, and a full build queue (builds.services)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return _service_error(exc)
    response = drf_exception_handler(exc, context)   # keeps DRF's status and headers (WWW-Authenticate, Retry-After)
    if response is None:
        return None
    field = None
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        message, field = _first_problem(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        code, message = exc.default_code, str(exc.detail)
    else:   # Django's Http404 and PermissionDenied, which DRF has already turned into a response
        code = "not_found" if response.status_code == 404 else "permission_denied"
        message = str(response.data.get("detail", "")) if isinstance(response.data, dict) else ""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    response.data = {"error": error}
    return response
