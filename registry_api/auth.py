"""Docker token auth: the token endpoint, and who a /v2/ request speaks for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from portal import access
from portal.names import is_valid_name
from registry_api import queries, tokens
from registry_api.errors import Unauthorized

TOKEN_PATH = "/v2/auth"


@dataclass(frozen=True)
class Principal:
    """The user a registry token was issued to, as the access rules see it ("" is anonymous)."""

    username: str
    is_active: bool = True

    @property
    def is_authenticated(self) -> bool:
        return bool(self.username)


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


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """`repository:acme/app:pull,push` → ("repository", "acme/app", ["pull", "push"])."""
    type_, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    type_ = type_.split("(", 1)[0]   # "repository(plugin)" carries a resource class we do not use
    return type_, name, [a for a in actions.split(",") if a]


def grant(user: Any, scope: str) -> dict[str, Any] | None:
    """What `user` gets of one requested scope: requested ∩ held, possibly no actions at all."""
    parsed = parse_scope(scope)
    if parsed is None:
        return None
    type_, name, requested = parsed
    held: list[str] = []
    if type_ == "repository" and is_valid_name(name):
        repository = queries.repository(name)
        held = access.allowed_actions(access.repository_role(user, repository, name), requested)
    elif type_ == "registry" and name == "catalog":
        held = [a for a in requested if a == "*"]   # the catalog itself lists only what the caller may read
    return {"type": type_, "name": name, "actions": held}


# Passwords already checked against a user's *current* stored hash, as keyed HMACs (never the password
# itself). Clients ask for a token per scope, and bcrypt costs ~250 ms each time by design; a changed
# password changes the stored hash and so misses this memo, and a disabled user is refused before it.
_MEMO_KEY = secrets.token_bytes(32)
_checked_passwords: OrderedDict[bytes, None] = OrderedDict()
_checked_lock = threading.Lock()
_MEMO_SIZE = 1024


def _memo(user: Any, password: str) -> bytes:
    message = f"{user.pk}\0{user.password}\0{password}".encode()
    return hmac.new(_MEMO_KEY, message, hashlib.sha256).digest()


def _basic_user(request: HttpRequest) -> Any:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, encoded = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    known = get_user_model().objects.filter(username=username, is_active=True).first()
    if known is not None:
        memo = _memo(known, password)
        with _checked_lock:
            if memo in _checked_passwords:
                _checked_passwords.move_to_end(memo)
                return known
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise Unauthorized("incorrect username or password")
    with _checked_lock:
        _checked_passwords[_memo(user, password)] = None
        while len(_checked_passwords) > _MEMO_SIZE:
            _checked_passwords.popitem(last=False)
    return user


@csrf_exempt
@require_GET
def token(request: HttpRequest) -> JsonResponse:
    """GET /v2/auth?service=…&scope=…: a signed token for the requested scope, as far as it is held."""
    try:
        user = _basic_user(request)
    except Unauthorized as error:
        return error.response()
    access_list = [g for s in request.GET.getlist("scope") for g in [grant(user, s)] if g is not None]
    signed, ttl = tokens.issue(user.username if user else "", access_list)
    return JsonResponse({"token": signed, "access_token": signed, "expires_in": ttl,
                         "issued_at": timezone.now().isoformat()})
