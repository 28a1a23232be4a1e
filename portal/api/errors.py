"""Every API error is JSON: {"error": {"code", "message", "field"?}}, with the status that fits."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ServiceError, Throttled


def _message(detail: Any) -> tuple[str, str | None]:
    """A sentence from DRF's detail, which may be a string, a list or a dict of field errors."""
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        text, _ = _message(value)
        return (text if field == "non_field_errors" else f"{field}: {text}"), (
            None if field == "non_field_errors" else str(field))
    if isinstance(detail, list) and detail:
        return _message(detail[0])
    return str(detail), None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        response = Response({"error": body}, status=exc.status)
        if isinstance(exc, Throttled):
            response["Retry-After"] = str(exc.retry_after)
        return response
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    message, field = _message(response.data)
    code = getattr(exc, "default_code", "error") if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    response.data = {"error": error}
    return response
