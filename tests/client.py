"""The test client as the server splits it: /v2/ through the registry's handler, everything else through the
portal's full middleware.

Django's test client runs settings.MIDDLEWARE on every path, while a server hands /v2/ to a handler with
none of it but the security headers (portal/wsgi.py). A registry test on the plain client would pass with
a session, a CSRF check or an authenticated request.user that production never gives a registry view;
this client takes the registry's chain and its path rule from portal/handlers.py, the code the server runs.
tests/conftest.py makes it the `client` fixture.
"""

from __future__ import annotations

from collections.abc import Iterable
from io import BytesIO
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http.response import HttpResponseBase
from django.test import Client as DjangoClient
from django.test import RequestFactory
from django.test.client import ClientHandler

from portal.handlers import RegistryChain, is_registry


class RegistryClientHandler(RegistryChain, ClientHandler):
    """The test client's handler (it attaches the request to the response, emulates the server's closing
    and HEAD handling) around the registry's chain."""


class SplitHandler:
    """Hands each request to the handler a server would: the registry's for /v2/, the portal's otherwise."""

    def __init__(self, enforce_csrf_checks: bool) -> None:
        self.portal = ClientHandler(enforce_csrf_checks)
        self.registry = RegistryClientHandler(enforce_csrf_checks)

    def __call__(self, environ: dict[str, Any]) -> HttpResponseBase:
        handler = self.registry if is_registry(environ) else self.portal
        return handler(environ)  # type: ignore[no-any-return]


class Client(DjangoClient):
    def __init__(self, enforce_csrf_checks: bool = False, *args: Any, **kwargs: Any) -> None:
        super().__init__(enforce_csrf_checks, *args, **kwargs)
        self.handler = SplitHandler(enforce_csrf_checks)  # type: ignore[assignment]



def server_get(path: str) -> tuple[int, dict[str, str]]:
    """The status and headers the deployed WSGI application (portal.wsgi.application) answers a GET with."""
    from portal.wsgi import application

    environ = RequestFactory().get(path).environ
    environ["wsgi.input"] = BytesIO()
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: Iterable[tuple[str, str]], exc_info: Any = None) -> None:
        answer.update(status=int(status.split(" ", 1)[0]), headers=dict(headers))

    # As the test client does: the handler's signals would otherwise close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = application(environ, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"]
