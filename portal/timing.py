"""`Server-Timing: app;dur=<ms>` on every page and API response: what the Django stack spent on it.

First in MIDDLEWARE, so the figure covers the other middleware (sessions, CSRF, authentication), URL
resolution, the view and template rendering; browsers show it in their network panel and `make bench`
reads it to tell server time from the client's and the network's. The registry's /v2/ runs without
middleware (portal/wsgi.py) and so carries none.

Off unless WHARF_SERVER_TIMING is set: a precise server time on every answer would hand anyone a cleaner
timing signal than the network gives (e.g. to tell a private repository from a missing one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

GetResponse = Callable[[HttpRequest], HttpResponseBase]


def server_timing(get_response: GetResponse) -> GetResponse:
    def middleware(request: HttpRequest) -> HttpResponseBase:
        # (/v2/ meets this middleware only through Django's plain test client: never in a server, nor through
        # the suite's client, which splits /v2/ off as the server does: tests/client.py.)
        if not settings.WHARF_SERVER_TIMING or request.path.startswith("/v2/"):
            return get_response(request)
        start = time.perf_counter()
        response = get_response(request)
        entry = f"app;dur={(time.perf_counter() - start) * 1000:.1f}"
        # A view may have named parts of its own time (db, render): keep them beside ours.
        earlier = response.get("Server-Timing")
        response["Server-Timing"] = f"{earlier}, {entry}" if earlier else entry
        return response

    return middleware
