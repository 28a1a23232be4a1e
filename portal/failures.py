"""Answers for requests that failed outside a view's own error handling, each in its surface's envelope.

Django calls these (handler400/403/404/500 in portal/urls.py) for what no view turned into an answer: a bug,
a request Django itself refuses (a disallowed Host, too many fields), an Http404, a busy database. /v2/
answers in the OCI error envelope, /api/ in the API's `{"error": {...}}`, the pages in HTML; never with a
traceback or a path (Django's `django.request` logger has the traceback). They serve both handler chains:
the portal's, and the registry's without middleware (portal/wsgi.py).
"""

from __future__ import annotations

import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.template import loader
from django.views import defaults

from portal.diskfull import is_disk_full
from registry_api.errors import Denied, NameUnknown, RegistryError, StorageFull, Unavailable, Unknown

RETRY_AFTER_SECONDS = 5
# PostgreSQL's "try again" states: lock_not_available (lock_timeout), query_canceled (statement_timeout),
# serialization_failure, deadlock_detected.
BUSY_SQLSTATES = frozenset({"55P03", "57014", "40001", "40P01"})

_API_ERRORS = {
    400: ("invalid", "The request is malformed."),
    403: ("permission_denied", "You may not do this."),   # the code the API's own 403s carry
    404: ("not_found", "There is nothing here, or you may not see it."),
    500: ("server_error", "Something went wrong on our side; it has been logged. Please try again later."),
    503: ("unavailable", f"The database is busy; try again in {RETRY_AFTER_SECONDS} seconds."),
    507: ("insufficient_storage", "The server's storage is full; nothing was saved. Try again later."),
}


def is_database_busy(exc: BaseException | None) -> bool:
    """Whether `exc` says the database was too busy (a lock held too long), not that the request was wrong."""
    if not isinstance(exc, OperationalError):
        return False
    if "database is locked" in str(exc) or "database table is locked" in str(exc):   # SQLite's BUSY, LOCKED
        return True
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in BUSY_SQLSTATES or getattr(cause, "pgcode", None) in BUSY_SQLSTATES


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _answer(request, 400, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _answer(request, 403, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _answer(request, 404, exception)


def server_error(request: HttpRequest) -> HttpResponseBase:
    # Django calls this from inside its `except` block, so the exception is still at hand. A full disk met
    # outside a view (the session middleware saving a session, say) is a 507 here too.
    exc = sys.exc_info()[1]
    return _answer(request, 503 if is_database_busy(exc) else 507 if is_disk_full(exc) else 500, None)


def _answer(request: HttpRequest, status: int, exception: Exception | None) -> HttpResponseBase:
    path = request.path_info
    if path == "/v2" or path.startswith("/v2/"):
        response: HttpResponseBase = _registry_error(status).response()
        response["Docker-Distribution-API-Version"] = "registry/2.0"
    elif path.startswith("/api/"):
        code, message = _API_ERRORS[status]
        response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    else:
        response = _page(request, status, exception)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if request.method == "HEAD" and isinstance(response, HttpResponse):   # headers only; the length stays
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


def _registry_error(status: int) -> RegistryError:
    if status == 507:
        return StorageFull()
    if status == 403:
        return Denied()
    if status == 404:
        return NameUnknown("no such endpoint in the OCI distribution API")
    if status == 503:
        return Unavailable(_API_ERRORS[503][1])
    return Unknown(_API_ERRORS[status][1], status=status)


def _page(request: HttpRequest, status: int, exception: Exception | None) -> HttpResponseBase:
    if status in (503, 507):
        # Stand-alone like 500.html: rendering base.html would ask the database about the user.
        return HttpResponse(loader.get_template(f"{status}.html").render(), status=status)
    if status == 500:
        return defaults.server_error(request)
    handler = {400: defaults.bad_request, 403: defaults.permission_denied, 404: defaults.page_not_found}[status]
    return handler(request, exception)  # type: ignore[arg-type]
