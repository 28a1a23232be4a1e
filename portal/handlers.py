"""What the registry's handler runs around its views, shared by the server (portal/wsgi.py) and the tests.

The registry authenticates every call with its own bearer tokens and answers JSON or bytes; sessions, CSRF,
messages and the rest of the portal's middleware have nothing to do there, yet cost a tenth of a pull's
server time. So /v2/ requests go to a Django handler whose chain is the security headers alone. The test
client's handler takes the same chain from here (tests/client.py), so that the registry's tests run what a
server runs rather than the portal's full middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response

from portal.security import security_headers

REGISTRY_PREFIX = "/v2/"


def is_registry(environ: Mapping[str, Any]) -> bool:
    """Whether a WSGI request goes to the registry's handler rather than the portal's."""
    return str(environ.get("PATH_INFO", "")).startswith(REGISTRY_PREFIX)


class RegistryChain(BaseHandler):
    """Mixed in before a Django handler class: no middleware from settings, only the security headers."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # The security headers still apply: a blob must never be taken for a page of this site.
        respond = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        self._middleware_chain = security_headers(respond)  # type: ignore[arg-type]  # WSGI: never awaitable
