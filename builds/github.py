"""GitHub's API, as far as build triggers need it: the connected user's organizations and repositories, a push
webhook with a per-trigger secret, and a read-only deploy key. Uses the user's GitHub connection (social-auth).

(Interface fixed here; the implementation is being written.)"""

from __future__ import annotations

from dataclasses import dataclass

from portal.accounts.models import User


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
    raise NotImplementedError


def organizations(user: User) -> list[str]:
    """The logins of the user's own account and the organizations they belong to."""
    raise NotImplementedError


def repositories(user: User, owner: str) -> list[GithubRepository]:
    """The repositories of `owner` (the user or one of their organizations) that the user may administer."""
    raise NotImplementedError


def repository(user: User, full_name: str) -> GithubRepository:
    raise NotImplementedError


def create_hook(user: User, full_name: str, url: str, secret: str) -> int:
    """A push webhook (content type JSON, X-Hub-Signature-256 with `secret`) to `url`; its id."""
    raise NotImplementedError


def delete_hook(user: User, full_name: str, hook_id: int) -> None:
    raise NotImplementedError


def add_deploy_key(user: User, full_name: str, title: str, public_key: str) -> int:
    """A read-only deploy key; its id."""
    raise NotImplementedError


def delete_deploy_key(user: User, full_name: str, key_id: int) -> None:
    raise NotImplementedError
