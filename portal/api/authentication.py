"""Who an API request speaks for: a Bearer API token, Basic credentials (password, robot or API token), or
the browser's session (with CSRF). Each sets request.auth to a portal.access.Principal."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from portal.access import Principal
from portal.accounts import credentials
from portal.accounts.models import User
from portal.basic_auth import parse_basic
from portal.client_address import client_ip
from portal.errors import AuthenticationFailed, Throttled


class RobotUser(AnonymousUser):
    """request.user for a robot: authenticated as far as DRF asks, but no person and no session."""

    def __init__(self, principal: Principal) -> None:
        self.username = principal.username  # type: ignore[misc,assignment]

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True


def _user_for(principal: Principal) -> Any:
    if principal.user_id is not None:
        return User.objects.get(pk=principal.user_id)
    return RobotUser(principal)


class ApiThrottled(exceptions.Throttled):
    """A 429 with Retry-After whose message is the service's own (DRF would append a second sentence)."""

    default_code = Throttled.code

    def __init__(self, wait: int, detail: str) -> None:
        super().__init__(detail=detail)
        self.wait = wait


def _raise(error: AuthenticationFailed | Throttled) -> None:
    if isinstance(error, Throttled):
        raise ApiThrottled(wait=error.retry_after, detail=error.message)
    raise exceptions.AuthenticationFailed(error.message)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        kind, _, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if kind.lower() != "bearer":
            return None
        # A right token always works; wrong ones count against the client, as failed sign-ins do.
        principal = credentials.api_token_principal(secret.strip(), client_ip(request))
        if principal is None:
            try:
                credentials.failed(client_ip(request), "", target="API token")   # counted and audited like a sign-in
            except Throttled as error:
                _raise(error)
            raise exceptions.AuthenticationFailed("The API token is invalid, expired or revoked.")
        return _user_for(principal), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="wharf-api"'


class BasicCredentialAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        try:
            basic = parse_basic(request.META.get("HTTP_AUTHORIZATION", ""))
        except ValueError:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from None
        if basic is None:
            return None
        username, secret = basic
        try:
            principal = credentials.authenticate(client_ip(request), username, secret)
        except (AuthenticationFailed, Throttled) as error:
            _raise(error)
            raise
        return _user_for(principal), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="wharf-api"'


class PortalSessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        found = super().authenticate(request)
        if found is None:
            return None
        user, _ = found
        return user, Principal.for_user(user)

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as refusal:
            raise exceptions.PermissionDenied(
                f"{refusal.detail} A browser session must send the CSRF token (X-CSRFToken header) on changes; "
                "scripts should use an API token (Authorization: Bearer) instead.") from None


# How the OpenAPI schema describes these (drf-spectacular cannot infer custom authenticators).

class BearerScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token (wharf_pat_…), limited to its scopes."}


class BasicScheme(OpenApiAuthenticationExtension):
    target_class = BasicCredentialAuthentication
    name = "basic"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "basic",
                "description": "A username with its password or an API token, or a robot 'namespace+name' with "
                               "its token."}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = PortalSessionAuthentication
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
                "description": "The browser's session; changes also need the X-CSRFToken header."}
