"""Sign in with GitHub (social-auth), and connecting a GitHub account to an existing user.

The backend reads GitHub's addresses from settings, so that GitHub Enterprise works and so that tests can
stand a local double at the HTTP edge in place of github.com and api.github.com.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from social_core.backends.github import GithubOAuth2 as BaseGithubOAuth2

from portal import audit
from portal.access import Principal
from portal.accounts.models import Namespace
from portal.accounts.services import RESERVED_NAMES, email_taken
from portal.client_address import client_ip


class GithubOAuth2(BaseGithubOAuth2):  # type: ignore[type-arg]
    def authorization_url(self) -> str:
        return f"{settings.WHARF_GITHUB_URL}/login/oauth/authorize"

    def access_token_url(self) -> str:
        return f"{settings.WHARF_GITHUB_URL}/login/oauth/access_token"

    def api_url(self) -> str:
        return f"{settings.WHARF_GITHUB_API_URL}/"


def _candidate(login: str) -> str:
    """A GitHub login made into a namespace name: lower case, separators collapsed."""
    name = re.sub(r"[^a-z0-9]+", "-", login.lower()).strip("-")
    return name[:56] or "user"


def pick_username(strategy: Any, details: dict[str, Any], backend: Any, user: Any = None, *args: Any,
                  **kwargs: Any) -> dict[str, Any] | None:
    """A free namespace name for a new user signing in with GitHub: the login, or the login and a number.

    GitHub's address is left off when another account holds it (addresses are unique in any case); the new
    user can set one in their settings.
    """
    if user is not None:
        return None
    base = _candidate(details.get("username") or "")
    name, n = base, 1
    while name in RESERVED_NAMES or Namespace.objects.filter(name=name).exists():
        n += 1
        name = f"{base}{n}"
    fields = {"username": name}
    if email_taken(details.get("email") or ""):
        fields["email"] = ""
    return fields


def record_login(strategy: Any, backend: Any, user: Any = None, is_new: bool = False, *args: Any,
                 **kwargs: Any) -> None:
    if user is None:
        return
    request = getattr(strategy, "request", None)
    connected = request is not None and getattr(request, "user", None) is not None and request.user.is_authenticated
    kind = "github_connect" if connected else "login"
    audit.record(kind, Principal.for_user(user), client_ip=client_ip(request), namespace_id=user.namespace.pk,
                 target=user.username, method="github", new_user=is_new)
