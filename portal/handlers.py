"""What the registry's handler runs around its views, shared by the server (portal/wsgi.py) and the tests.

The registry authenticates every call with its own bearer tokens and answers JSON or bytes; sessions, CSRF,
messages and the rest of the portal's middleware have nothing to do there, yet cost a tenth of a pull's
server time. So /v2/ requests go to a Django handler whose chain is the security headers alone. The test
client's handler takes the same chain from here (tests/client.py), so that the registry's tests run what a
server runs rather than the portal's full middleware.

The operations endpoints (/healthz, /readyz, /metrics) take the same handler: probes hit them every few seconds,
need no session, and must answer while the portal's middleware could not (a database that is down). The chain
also counts each /v2/ request for /metrics by its route (portal/metrics.py); that costs a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from portal import metrics
from portal.security import security_headers

REGISTRY_PREFIX = "/v2/"
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Answers whose body counts as pulled: blobs and manifests (a redirected blob's bytes come from elsewhere).
PULLED_ROUTES = ("/blobs/<digest>", "/manifests/<reference>")

Handler = Callable[[HttpRequest], HttpResponseBase]


def is_registry(environ: Mapping[str, Any]) -> bool:
    """Whether a WSGI request goes to the registry's handler rather than the portal's (the operations
    endpoints go there too)."""
    path = str(environ.get("PATH_INFO", ""))
    return path.startswith(REGISTRY_PREFIX) or path in OPERATIONS_PATHS


def metered(get_response: Handler) -> Handler:
    """Count each /v2/ request by route, method and status, its time to the headers, and the bytes pulled."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(REGISTRY_PREFIX):
            return get_response(request)
        start = time.perf_counter()
        response = get_response(request)
        route = metrics.route_label(getattr(request, "resolver_match", None))
        status = response.status_code
        metrics.observe_request(route, request.method or "", status, time.perf_counter() - start)
        if request.method == "GET" and status in (200, 206) and route.endswith(PULLED_ROUTES):
            metrics.pulled(_length(response))
        return response

    return middleware


def _length(response: HttpResponseBase) -> int:
    length = response.get("Content-Length")
    if length is not None and length.isdigit():
        return int(length)
    return len(response.content) if isinstance(response, HttpResponse) else 0


class RegistryChain(BaseHandler):
    """Mixed in before a Django handler class: no middleware from settings, only the security headers."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # The security headers still apply: a blob must never be taken for a page of this site.
        respond = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        self._middleware_chain = metered(security_headers(respond))  # type: ignore[arg-type]  # WSGI: never awaitable
