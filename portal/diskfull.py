"""A full disk is a state to wait out, not a crash: every surface answers 507 in its own envelope.

The registry's views render it in the OCI envelope themselves (registry_api/views/base.py); this middleware
answers for the REST API (its JSON envelope) and the pages. Whatever wrote half a thing has trimmed it before
the error got here (a transaction rolled back; an upload cut back to its committed length), so the client may
simply try again once there is room, and nothing has to be reset for Wharf to work again.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
PG_DISK_FULL = "53100"
MESSAGE = "The server's storage is full. Nothing was saved; try again later."


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` (or an error it was raised from) says the disk or the database ran out of room."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, DatabaseError) and (getattr(exc.__cause__, "sqlstate", None) == PG_DISK_FULL
                                               or "database or disk is full" in str(exc)):   # SQLITE_FULL
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class DiskFullMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_disk_full(exc):
            return None
        log.error("disk full while answering %s %s: %s", request.method, request.path, exc)
        if request.path.startswith("/api/"):
            return JsonResponse({"error": {"code": "insufficient_storage", "message": MESSAGE}}, status=507)
        return HttpResponse(render_to_string("507.html"), status=507)
