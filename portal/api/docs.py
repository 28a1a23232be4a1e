"""The API docs pages (Swagger UI at /api/v1/docs/, Redoc at /api/v1/redoc/) load nothing from outside Wharf.

drf-spectacular's sidecar ships both bundles, but its Redoc template links Google Fonts, and Redoc's sidebar
footer always shows Redocly's logo from cdn.redoc.ly (no option turns it off). So Redoc gets its own template
without web fonts (SPECTACULAR_SETTINGS names system fonts in its theme instead), and its bundle is served
from here with that logo swapped for an empty inline image. Swagger UI's sidecar files need no change.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.views.decorators.http import condition, require_safe
from drf_spectacular.views import SpectacularRedocView

BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='0' height='0'/%3E"


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"


@functools.cache
def _bundle() -> tuple[bytes, str]:
    """The sidecar's Redoc bundle without the outside logo, and its ETag (read once per process)."""
    found = finders.find(BUNDLE)
    assert isinstance(found, str), f"{BUNDLE} is missing: is drf_spectacular_sidecar installed?"
    text = Path(found).read_text(encoding="utf-8").replace(REDOCLY_LOGO, EMPTY_IMAGE)
    # The source map stays a static file beside the original bundle.
    text = text.replace("sourceMappingURL=redoc.standalone.js.map", f"sourceMappingURL={static(BUNDLE)}.map")
    body = text.encode()
    return body, hashlib.sha256(body).hexdigest()[:32]


@require_safe
@condition(etag_func=lambda request: _bundle()[1])
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_bundle()[0], content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
