"""The WSGI application: the portal, and the registry's /v2/ on a handler of its own.

The registry authenticates every call with its own bearer tokens and answers JSON or bytes; sessions,
CSRF, messages and the rest of the portal's middleware have nothing to do there, yet cost a tenth of a
pull's server time. So /v2/ requests go to a Django handler with an empty middleware chain; the views
and URLconf are the same (the test client, which goes through the full chain, exercises them too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from portal.security import security_headers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal = get_wsgi_application()


class RegistryHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # The security headers still apply: a blob must never be taken for a page of this site.
        respond = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        self._middleware_chain = security_headers(respond)  # type: ignore[arg-type]  # WSGI: never awaitable


registry = RegistryHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "").startswith("/v2/"):
        return registry(environ, start_response)
    return portal(environ, start_response)
