"""The WSGI application: the portal, and the registry's /v2/ on a handler of its own.

The registry's handler runs no middleware but the security headers (portal/handlers.py says why); the views
and URLconf are the same. The test client splits /v2/ off the same way (tests/client.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from portal.handlers import RegistryChain, is_registry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal = get_wsgi_application()


class RegistryHandler(RegistryChain, WSGIHandler):
    """Django's WSGI handler with the registry's chain."""


registry = RegistryHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if is_registry(environ):
        return registry(environ, start_response)
    return portal(environ, start_response)
