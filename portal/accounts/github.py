"""Sign in with GitHub (social-auth), and connecting a GitHub account to an existing user.

The backend reads GitHub's addresses from settings, so that GitHub Enterprise works and so that tests can
stand a local double at the HTTP edge in place of github.com and api.github.com.

Signing in asks GitHub only for read:user and user:email. Build triggers need more (list private repositories,
add a webhook and a deploy key), so a signed-in user connects again "for builds": the same begin URL,
POST /login/github/ with `for=builds` (and `next=<page to come back to>`), asks also for BUILD_SCOPES. The
token that grants them is kept apart (extra_data["builds_access_token"]), so that signing in later with the
small scopes, which replaces extra_data["access_token"], does not take the builds' access away.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from social_core.backends.github import GithubOAuth2 as BaseGithubOAuth2
from social_django.models import UserSocialAuth

from portal import audit
from portal.access import Principal
from portal.accounts.models import Namespace, User
from portal.accounts.services import RESERVED_NAMES, email_taken
from portal.client_address import client_ip

# `repo`: private repositories (read, so a build can list and clone them) and their deploy keys, which GitHub
# grants to OAuth apps with `repo` only; `public_repo` would not reach private repositories at all. It also
# covers repository webhooks; `admin:repo_hook` is asked for too so that GitHub's consent page names hooks.
BUILD_SCOPES = ["repo", "admin:repo_hook"]
# The scopes a token must carry for builds (GitHub may normalise away admin:repo_hook, which repo includes).
_BUILDS_NEED = {"repo"}
_FOR_BUILDS = "wharf_github_for_builds"     # session key: this connect was started from a builds page


def granted(scope: str | None) -> set[str]:
    """The scopes in GitHub's `scope` answer ("repo,read:user"; some servers separate with spaces)."""
    return {s for s in re.split(r"[,\s]+", scope or "") if s}


def grants_builds(scope: str | None) -> bool:
    return granted(scope) >= _BUILDS_NEED


class GithubOAuth2(BaseGithubOAuth2):  # type: ignore[type-arg]
    # GitHub's token answer says which scopes the user granted; keep it next to the token.
    EXTRA_DATA = [*BaseGithubOAuth2.EXTRA_DATA, ("scope", "scope")]

    def start(self) -> Any:
        """Remember whether a signed-in user asked to connect for builds (the begin POST's `for=builds`); any other
        begin clears it, so the flag cannot linger into a later sign-in."""
        user = getattr(getattr(self.strategy, "request", None), "user", None)
        wanted = self.data.get("for") == "builds" and bool(user is not None and user.is_authenticated)
        self.strategy.session_set(_FOR_BUILDS, wanted)
        return super().start()

    def get_scope(self) -> list[str]:
        scope = list(super().get_scope())
        if self.strategy.session_get(_FOR_BUILDS):
            scope += [s for s in BUILD_SCOPES if s not in scope]
        return scope

    def extra_data(self, user: Any, uid: str, response: dict[str, Any], details: dict[str, Any],
                   pipeline_kwargs: dict[str, Any]) -> dict[str, Any]:
        data = super().extra_data(user, uid, response, details, pipeline_kwargs)
        if grants_builds(data.get("scope")) and data.get("access_token"):
            data["builds_access_token"], data["builds_scope"] = data["access_token"], data["scope"]
        return data

    def authorization_url(self) -> str:
        return f"{settings.WHARF_GITHUB_URL}/login/oauth/authorize"

    def access_token_url(self) -> str:
        return f"{settings.WHARF_GITHUB_URL}/login/oauth/access_token"

    def api_url(self) -> str:
        return f"{settings.WHARF_GITHUB_API_URL}/"


def builds_connection(user: User) -> tuple[str, str] | None:
    """(token, granted scope) of the user's GitHub connection made for builds, or None. Never log the token."""
    social = UserSocialAuth.objects.filter(user=user, provider="github").only("extra_data").first()
    data = social.extra_data if social is not None and isinstance(social.extra_data, dict) else {}
    if data.get("builds_access_token") and grants_builds(data.get("builds_scope")):
        return str(data["builds_access_token"]), str(data["builds_scope"])
    if data.get("access_token") and grants_builds(data.get("scope")):     # a row made before builds_* existed
        return str(data["access_token"]), str(data["scope"])
    return None


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
