"""The one decorator every /v2/ view wears, the API root and the catalog."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from portal.client_address import client_ip
from portal.diskfull import is_disk_full
from portal.names import is_valid_name
from registry_api import services
from registry_api.auth import bearer_claims, challenge, live_principal
from registry_api.errors import (
    NameInvalid,
    NameUnknown,
    PaginationNumberInvalid,
    RegistryError,
    StorageFull,
    Unsupported,
)
from registry_api.gate import Principal, gate
from registry_api.queries import RepositoryRow
from registry_api.tokens import Claims

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
METHOD_ACTIONS = {"GET": "pull", "HEAD": "pull", "POST": "push", "PUT": "push", "PATCH": "push",
                  "DELETE": "delete"}
CHALLENGE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete"}

View = Callable[..., HttpResponseBase]
PAGE_SIZE_RE = re.compile(r"[0-9]{1,9}")
EMPTY_STATUSES = frozenset({201, 202, 204})
log = logging.getLogger(__name__)


class RegistryRequest(HttpRequest):
    principal: Principal
    claims: Claims
    repository: RepositoryRow


def registry_view(methods: tuple[str, ...], scope: str | None = None, creates: bool = False,
                  absent_ok: bool = False) -> Callable[[View], View]:
    """Check the method, the Bearer token's scope for the repository in the URL (or `scope`, for views
    without one), and the live permission; then set request.repository and render any RegistryError.
    A view that `creates` makes the repository on a first push (an upload's start, a manifest); a view that
    is `absent_ok` is called with request.repository None for a repository that does not exist yet, when
    the caller could read it if it did (one it may create)."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, name: str | None = None, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method not in methods:
                    raise Unsupported(f"method {request.method} is not allowed here",
                                      headers={"Allow": ", ".join(methods)})
                if name is None:
                    claims = bearer_claims(request, scope)
                    if scope is not None and not claims.allows(*scope.rsplit(":", 2)):
                        raise challenge(request, scope, "insufficient scope", "insufficient_scope")
                    request.principal = live_principal(request, claims, scope)  # type: ignore[attr-defined]
                    response = view(request, **kwargs)
                else:
                    _authorize(request, name, creates, absent_ok)
                    response = view(request, name, **kwargs)
            except Exception as exc:
                if not isinstance(exc, RegistryError) and not is_disk_full(exc):
                    raise
                error = exc if isinstance(exc, RegistryError) else _storage_full(request, exc)
                response = error.response()
                if request.method == "HEAD":   # a HEAD answer has headers only; the length stays
                    response["Content-Length"] = str(len(response.content))
                    response.content = b""
            if response.status_code in EMPTY_STATUSES and isinstance(response, HttpResponse) and not response.content:
                # Django labels every response text/html; an empty answer has no content to label.
                del response["Content-Type"]
            response[API_VERSION[0]] = API_VERSION[1]
            return response

        return wrapper

    return decorate


def _storage_full(request: HttpRequest, exc: Exception) -> RegistryError:
    """A full disk (blob storage or the database) met outside the upload path's own handling."""
    log.error("disk full while answering %s %s: %s", request.method, request.path, exc)
    return StorageFull()


def _authorize(request: HttpRequest, name: str, creates: bool, absent_ok: bool) -> None:
    if not is_valid_name(name):
        bearer_claims(request)   # only a caller with a token learns more than "authenticate"
        raise NameInvalid(detail={"name": name})
    action = METHOD_ACTIONS[request.method or "GET"]
    scope = _challenge_scope(request, name, action)
    claims = bearer_claims(request, scope)
    # A token without the action gets the same 401 whether the repository is private or missing.
    if not claims.allows("repository", name, action):
        raise challenge(request, scope, "insufficient scope", "insufficient_scope")
    principal = live_principal(request, claims, scope)
    repository = services.get_repository(name)
    # Permissions are checked again live, so that a change applies before the token expires.
    if not gate().allowed_actions(principal, repository, name, [action]):
        raise challenge(request, scope, "insufficient scope", "insufficient_scope")
    if repository is None:
        if creates and action == "push":
            repository = services.create_repository(name, principal, client_ip(request))
        elif not absent_ok:
            raise NameUnknown(detail={"name": name})
    request.principal = principal  # type: ignore[attr-defined]
    request.claims = claims  # type: ignore[attr-defined]
    request.repository = repository  # type: ignore[attr-defined]


def _challenge_scope(request: HttpRequest, name: str, action: str) -> str:
    """The scope a 401 asks for. A cross-repository mount also needs pull on its source; naming it, as
    the reference registry does, lets a client that follows the challenge get its mount (201) rather
    than fall back to uploading the blob again (202)."""
    scope = f"repository:{name}:{CHALLENGE_ACTIONS[action]}"
    source = request.GET.get("from", "") if request.method == "POST" and request.GET.get("mount") else ""
    if source and source != name and is_valid_name(source):
        scope += f" repository:{source}:pull"
    return scope


def page_size(request: HttpRequest) -> int | None:
    raw = request.GET.get("n")
    if raw is None or raw == "":
        return None
    if PAGE_SIZE_RE.fullmatch(raw) is None:
        raise PaginationNumberInvalid(detail={"n": raw})
    return min(int(raw), settings.WHARF_TAGS_PAGE_MAX)


def next_link(path: str, n: int, last: str) -> str:
    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


@registry_view(("GET", "HEAD"))
def ping(request: RegistryRequest) -> HttpResponse:
    return JsonResponse({})


@registry_view(("GET",), scope="registry:catalog:*")
def catalog(request: RegistryRequest) -> HttpResponse:
    n, last = page_size(request), request.GET.get("last")
    page = gate().readable_names(request.principal, last, None if n is None else n + 1)
    more = n is not None and len(page) > n
    page = page[:n] if n is not None else page
    response = JsonResponse({"repositories": page})
    if more and page:
        response["Link"] = next_link("/v2/_catalog", n or 0, page[-1])
    return response


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    try:
        bearer_claims(request)
        response = NameUnknown("no such endpoint in the OCI distribution API").response()
    except RegistryError as error:
        response = error.response()
    response[API_VERSION[0]] = API_VERSION[1]
    return response
