"""GitHub's API, as far as build triggers need it: the connected user's organizations and repositories, a push
webhook with a per-trigger secret, and a read-only deploy key. Uses the user's GitHub connection made for builds
(social-auth; see portal.accounts.github for the scopes and where the token is kept).

Every call has a timeout, and every failure becomes a GithubError whose message says what the person can do.
The token goes only into the Authorization header: never into a message, a log line or a URL."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from portal.accounts.github import builds_connection
from portal.accounts.models import User

log = logging.getLogger(__name__)

TIMEOUT = 10          # seconds, each call
MAX_PAGES = 10        # of 100 items: a list longer than 1,000 is cut there
_FULL_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class GithubError(Exception):
    """GitHub refused or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class GithubRepository:
    full_name: str          # owner/name
    owner: str
    private: bool
    default_branch: str
    clone_url: str          # https
    ssh_url: str


def connected(user: User) -> bool:
    """Whether the user has connected GitHub with the scopes builds need."""
    return builds_connection(user) is not None


def organizations(user: User) -> list[str]:
    """The logins of the user's own account and the organizations they belong to."""
    login = _login(user)
    orgs = sorted((str(o["login"]) for o in _pages(user, "/user/orgs")), key=str.lower)
    return [login, *[o for o in orgs if o.lower() != login.lower()]]


def repositories(user: User, owner: str) -> list[GithubRepository]:
    """The repositories of `owner` (the user or one of their organizations) that the user may administer
    (adding a webhook needs admin rights, so the others could not carry a trigger)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", owner or ""):
        raise GithubError("Pick a GitHub account or organization.")
    if owner.lower() == _login(user).lower():
        items = _pages(user, "/user/repos", {"affiliation": "owner"})
    else:
        items = _pages(user, f"/orgs/{quote(owner)}/repos", {"type": "all"}, owner=owner)
    found = [_repository(r) for r in items
             if (r.get("permissions") or {}).get("admin") and str(r["owner"]["login"]).lower() == owner.lower()]
    return sorted(found, key=lambda r: r.full_name.lower())


def repository(user: User, full_name: str) -> GithubRepository:
    """One repository, if the user may administer it (else a GithubError saying so)."""
    data = _call(user, "GET", _repo_path(full_name), full_name=full_name).json()
    if not (data.get("permissions") or {}).get("admin"):
        raise GithubError(f"You need admin rights on {full_name} on GitHub to add a webhook to it.")
    return _repository(data)


def create_hook(user: User, full_name: str, url: str, secret: str) -> int:
    """A push webhook (content type JSON, X-Hub-Signature-256 with `secret`) to `url`; its id."""
    body = {"name": "web", "active": True, "events": ["push"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}}
    return int(_call(user, "POST", f"{_repo_path(full_name)}/hooks", body, full_name=full_name).json()["id"])


def delete_hook(user: User, full_name: str, hook_id: int) -> None:
    _call(user, "DELETE", f"{_repo_path(full_name)}/hooks/{int(hook_id)}", full_name=full_name, gone_ok=True)


def add_deploy_key(user: User, full_name: str, title: str, public_key: str) -> int:
    """A read-only deploy key; its id."""
    body = {"title": title, "key": public_key, "read_only": True}
    return int(_call(user, "POST", f"{_repo_path(full_name)}/keys", body, full_name=full_name).json()["id"])


def delete_deploy_key(user: User, full_name: str, key_id: int) -> None:
    _call(user, "DELETE", f"{_repo_path(full_name)}/keys/{int(key_id)}", full_name=full_name, gone_ok=True)


# --- the HTTP edge ----------------------------------------------------------------------------------------

def _repository(data: dict[str, Any]) -> GithubRepository:
    return GithubRepository(full_name=str(data["full_name"]), owner=str(data["owner"]["login"]),
                            private=bool(data.get("private")), default_branch=str(data.get("default_branch") or "main"),
                            clone_url=str(data.get("clone_url") or ""), ssh_url=str(data.get("ssh_url") or ""))


def _repo_path(full_name: str) -> str:
    if not _FULL_NAME.fullmatch(full_name or ""):
        raise GithubError("Pick a GitHub repository (owner/name).")
    return f"/repos/{full_name}"


def _login(user: User) -> str:
    return str(_call(user, "GET", "/user").json()["login"])


def _pages(user: User, path: str, params: dict[str, str] | None = None,
           owner: str | None = None) -> list[dict[str, Any]]:
    """All items of a list, following GitHub's Link rel="next" (only on GitHub's own address: the token must not
    follow a link elsewhere), at most MAX_PAGES pages."""
    items: list[dict[str, Any]] = []
    url: str | None = _url(path)
    query: dict[str, str] | None = {"per_page": "100", **(params or {})}
    for _ in range(MAX_PAGES):
        if url is None:
            break
        response = _call(user, "GET", url, params=query, full_name=owner)
        page = response.json()
        if not isinstance(page, list):
            raise GithubError("GitHub answered something unexpected; try again in a minute.")
        items.extend(page)
        following = response.links.get("next", {}).get("url")
        url = following if following and following.startswith(settings.WHARF_GITHUB_API_URL + "/") else None
        query = None          # the next link carries its own query
    return items


def _url(path: str) -> str:
    return path if path.startswith(settings.WHARF_GITHUB_API_URL + "/") else settings.WHARF_GITHUB_API_URL + path


def _call(user: User, method: str, path: str, body: dict[str, Any] | None = None, *,
          params: dict[str, str] | None = None, full_name: str | None = None,
          gone_ok: bool = False) -> requests.Response:
    connection = builds_connection(user)
    if connection is None:
        raise GithubError("Connect your GitHub account for builds first (it asks GitHub for access to your "
                          "repositories).")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "Authorization": f"Bearer {connection[0]}", "User-Agent": "Wharf"}
    url = _url(path)
    try:
        response = requests.request(method, url, params=params, json=body, headers=headers, timeout=TIMEOUT,
                                    allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("GitHub %s %s failed: %s", method, url.split("?")[0], type(exc).__name__)
        raise GithubError("GitHub could not be reached; try again in a minute.") from None
    if response.status_code == 404 and gone_ok:
        return response
    if response.status_code >= 300:
        log.info("GitHub %s %s answered %s", method, url.split("?")[0], response.status_code)
        raise GithubError(_message(response, full_name))
    return response


def _message(response: requests.Response, full_name: str | None) -> str:
    """What a person can do about GitHub's refusal."""
    status = response.status_code
    try:
        said = str(response.json().get("message") or "")[:200]
    except (ValueError, AttributeError):
        said = ""
    what = full_name or "it"
    if status == 401:
        return "GitHub no longer accepts Wharf's access to your account: reconnect GitHub for builds."
    if status in (403, 429) and (response.headers.get("X-RateLimit-Remaining") == "0" or "rate limit" in said.lower()):
        return "GitHub's rate limit is reached for your account; try again in a few minutes."
    if status == 403 and "access restriction" in said.lower():
        return (f"The organization that owns {what} restricts OAuth apps: an owner must approve Wharf in the "
                "organization's settings on GitHub.")
    if status in (403, 404):
        return f"You need admin rights on {what} on GitHub (or it does not exist)."
    if status == 422:
        return f"GitHub refused the change to {what}: {said or 'it is not valid'}."
    if status >= 500:
        return f"GitHub had an error ({status}); try again in a minute."
    return f"GitHub answered {status}{': ' + said if said else ''}."
