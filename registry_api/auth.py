"""Docker token auth: the token endpoint, and who a /v2/ request speaks for.

Clients present a password, a robot token or a personal API token (as Basic credentials, or as the
OAuth2 form of POST /v2/auth), and get a short-lived JWT whose `access` is what they asked for intersected
with what they hold. The JWT names the credential it was issued for, and every /v2/ request checks that
credential again, so a disabled user, a deleted robot or a revoked token stops at once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from portal.basic_auth import parse_basic
from portal.client_address import client_ip
from portal.errors import AuthenticationFailed, Throttled
from portal.names import is_valid_name
from registry_api import queries, tokens
from registry_api.errors import RegistryError, TooManyRequests, Unauthorized, Unsupported
from registry_api.gate import Principal, gate

TOKEN_PATH = "/v2/auth"


def challenge(request: HttpRequest, scope: str | None = None, message: str | None = None,
              error: str | None = None) -> Unauthorized:
    """A 401 whose WWW-Authenticate tells the client where to get a token for `scope` (RFC 6750)."""
    realm = request.build_absolute_uri(TOKEN_PATH)
    value = f'Bearer realm="{realm}",service="{settings.WHARF_REGISTRY_SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return Unauthorized(message, headers={"WWW-Authenticate": value})


def bearer_claims(request: HttpRequest, scope: str | None = None) -> tokens.Claims:
    """The verified claims of the request's Bearer token; a 401 challenge when there is none."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token:
        raise challenge(request, scope)
    try:
        return tokens.verify(token.strip())
    except tokens.InvalidToken:
        raise challenge(request, scope, "invalid or expired token", "invalid_token") from None


def live_principal(request: HttpRequest, claims: tokens.Claims, scope: str | None) -> Principal:
    """Whom the token speaks for, as things stand now; refused when its credential no longer holds."""
    principal = gate().principal_for(claims.credential)
    if principal is None or principal.username != claims.subject:
        raise challenge(request, scope, "the credential behind this token is no longer valid", "invalid_token")
    return principal


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """`repository:acme/app:pull,push` → ("repository", "acme/app", ["pull", "push"])."""
    type_, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    type_ = type_.split("(", 1)[0]   # "repository(plugin)" carries a resource class we do not use
    return type_, name, [a for a in actions.split(",") if a]


def grant(principal: Principal, scope: str) -> dict[str, Any] | None:
    """What the principal gets of one requested scope: requested ∩ held, possibly no actions at all."""
    parsed = parse_scope(scope)
    if parsed is None:
        return None
    type_, name, requested = parsed
    held: list[str] = []
    if type_ == "repository" and is_valid_name(name):
        held = gate().allowed_actions(principal, queries.repository(name), name, requested)
    elif type_ == "registry" and name == "catalog":
        held = [a for a in requested if a == "*"]   # the catalog itself lists only what the caller may read
    return {"type": type_, "name": name, "actions": held}


def _basic(request: HttpRequest) -> tuple[str, str] | None:
    try:
        return parse_basic(request.META.get("HTTP_AUTHORIZATION", ""))
    except ValueError as error:
        raise Unauthorized(str(error)) from None


def _authenticate(request: HttpRequest, username: str, secret: str) -> Principal:
    try:
        return gate().authenticate(client_ip(request), username, secret)
    except Throttled as error:
        raise TooManyRequests(error.message, headers={"Retry-After": str(error.retry_after)}) from None
    except AuthenticationFailed:
        raise Unauthorized("incorrect username or password") from None


def _from_refresh_token(request: HttpRequest, refresh_token: str) -> tuple[Principal, tokens.Refresh]:
    try:
        refresh = tokens.verify_refresh_claims(refresh_token)
    except tokens.InvalidToken:
        raise Unauthorized("invalid or expired refresh token") from None
    principal = gate().principal_for(refresh.credential)
    if principal is None or not principal.is_authenticated or principal.username != refresh.subject:
        raise Unauthorized("the credential behind this refresh token is no longer valid")
    return principal, refresh


MAX_FORM = 64 * 1024


def _form(request: HttpRequest) -> QueryDict:
    """The OAuth2 POST form. containers/image (podman, skopeo, buildah) sends it chunked, without a
    Content-Length, and Django reads no body then: it is read from the de-chunked input here."""
    cached = getattr(request, "_wharf_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = request.META["wsgi.input"]   # the server has de-chunked it
        parts, size = [], 0
        while size <= MAX_FORM and (part := stream.read(MAX_FORM + 1 - size)):
            parts.append(part)
            size += len(part)
        if size > MAX_FORM:
            raise Unauthorized("the token request's form is over 64 KiB")
        form = QueryDict(b"".join(parts), encoding="utf-8")
    else:
        form = request.POST
    request._wharf_form = form  # type: ignore[attr-defined]
    return form


def _principal(request: HttpRequest) -> tuple[Principal, bool, tokens.Refresh | None]:
    """The caller, whether it asked for a refresh token (docker's offline_token / access_type), and the
    refresh token it presented (whose ceiling caps what it gets)."""
    if request.method == "POST":   # the OAuth2 form: grant_type password or refresh_token
        form = _form(request)
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            principal, refresh = _from_refresh_token(request, form.get("refresh_token", ""))
            return principal, False, refresh
        if grant_type == "password":
            offline = form.get("access_type") == "offline"
            return _authenticate(request, form.get("username", ""), form.get("password", "")), offline, None
        raise Unauthorized("grant_type must be password or refresh_token")
    offline = request.GET.get("offline_token", "").lower() == "true"
    basic = _basic(request)
    if basic is None:
        return gate().anonymous(), False, None
    return _authenticate(request, *basic), offline, None


@csrf_exempt
def token(request: HttpRequest) -> JsonResponse:
    """GET or POST /v2/auth: a signed token for the requested scope, as far as it is held."""
    try:
        if request.method not in ("GET", "POST"):
            raise Unsupported(f"method {request.method} is not allowed here", headers={"Allow": "GET, POST"})
        principal, offline, refresh = _principal(request)
    except RegistryError as error:
        return error.response()
    # GET repeats `scope`; the OAuth2 POST form (podman with an identity token) repeats it too, or joins
    # several with spaces.
    scopes = request.GET.getlist("scope") or (_form(request).getlist("scope") if request.method == "POST" else [])
    scopes = [s for value in scopes for s in value.split()]
    access_list = [g for s in scopes for g in [grant(principal, s)] if g is not None]
    if refresh is not None and refresh.ceiling is not None:
        access_list = [{**g, "actions": refresh.cap(g["name"], g["actions"]) if g["type"] == "repository" else []}
                       for g in access_list]
    credential = gate().credential_of(principal)
    signed, ttl = tokens.issue(principal.username, access_list, credential)
    body = {"token": signed, "access_token": signed, "expires_in": ttl, "issued_at": timezone.now().isoformat()}
    if offline and principal.is_authenticated:
        body["refresh_token"] = tokens.issue_refresh(principal.username, credential)
    return JsonResponse(body)
