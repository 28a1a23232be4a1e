"""Response headers that tell the browser to refuse what Wharf's pages never do.

The pages run one script file (static/wharf.js) and one style sheet, so their policy allows scripts and styles
from the site itself and nothing inline: markup injected into a page (a description's Markdown gone wrong, a
tag name) cannot run. Answers that are not pages (API JSON, /v2/ manifests and blobs, which are bytes anyone
with push rights chose) get a policy that allows nothing at all, with nosniff, so a blob is never run as a
page of this origin. The same middleware wraps the registry's handler, which skips the portal's middleware.

Cookies: HttpOnly (wharf.js reads none; the API docs take the CSRF token from their page), SameSite=Lax, and
Secure when the site is https or the request came over TLS (gunicorn trusts X-Forwarded-Proto from the
proxies in FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

CSP = "Content-Security-Policy"
NOTHING = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
# Swagger UI and Redoc (drf-spectacular's templates) start with an inline script and inject styles; they show
# no user content (the schema comes from Wharf's own code), so their pages alone may run inline code.
API_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[HttpRequest], HttpResponseBase]
# The same headers as entries of the response's header store (lower-cased name → (name, value)), checked once
# here: setting them through response[...] validates and encodes each again on every request, which cost the
# registry's small answers (a ping, a manifest HEAD) a tenth of their server time.
_FIXED_ENTRIES = tuple((name.lower(), (name, value)) for name, value in FIXED_HEADERS.items())
_CSP_KEY = CSP.lower()


def page_policy() -> str:
    # form-action names GitHub: "Sign in with GitHub" posts to Wharf, which redirects the form there.
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
            f"base-uri 'none'; form-action 'self' {settings.WHARF_GITHUB_URL}; frame-ancestors 'none'")


def _policy(request: HttpRequest, response: HttpResponseBase) -> str:
    if request.path.startswith("/v2/") or not response.get("Content-Type", "").startswith("text/html"):
        return NOTHING
    return page_policy()


def security_headers(get_response: Handler) -> Handler:
    """Middleware: the headers above on every answer that has not set its own policy."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        # ResponseHeaders' own dict; the constants above are plain ASCII (the page policy, which names a
        # setting, still goes through the checked path).
        store: dict[str, tuple[str, str]] = response.headers._store  # type: ignore[attr-defined]
        if _CSP_KEY not in store:
            policy = _policy(request, response)
            if policy is NOTHING:
                store[_CSP_KEY] = (CSP, NOTHING)
            else:
                response[CSP] = policy
        for key, entry in _FIXED_ENTRIES:
            store.setdefault(key, entry)
        if response.cookies and (request.is_secure() or settings.WHARF_SITE_URL.startswith("https:")):
            for morsel in response.cookies.values():
                morsel["secure"] = True
        return response

    return middleware


def relaxed_for_api_docs(view: Callable[..., Any]) -> Callable[..., Any]:
    """The API docs' policy on this view's answers (see API_DOCS)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        response[CSP] = API_DOCS
        return response

    return wrapped
