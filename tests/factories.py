"""Plain factory functions: each test makes the little world it needs."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from django.contrib.auth.hashers import make_password

from portal.accounts.models import ApiToken, Namespace, Organization, Robot, Team, TeamMember, TeamRole, User
from portal.repositories.models import Repository, RepositoryPermission, RepositoryRole, Visibility
from registry_api import tokens

PASSWORD = "correct horse battery staple"


@cache
def _password_hash() -> str:
    # bcrypt is slow on purpose; hash the shared test password once per run.
    return make_password(PASSWORD)


def make_user(username: str, **fields: Any) -> User:
    user = User(username=username, email=f"{username}@example.com", **fields)
    user.password = _password_hash()
    user.save()
    return user


def make_organization(name: str, owner: User | None = None) -> Organization:
    """An organization; `owner` (if given) joins its owners team, as for one made through the API."""
    organization = Organization.objects.create(name=name)
    Namespace.objects.create(name=name, organization=organization)
    owners = Team.objects.create(organization=organization, name="owners", role=TeamRole.ADMIN)
    if owner is not None:
        TeamMember.objects.create(team=owners, user=owner)
    return organization


def make_repository(full_name: str, visibility: str = Visibility.PRIVATE) -> Repository:
    """A repository; its namespace is the user's, or an organization made on the spot when there is none."""
    namespace_name, name = full_name.split("/", 1)
    namespace = Namespace.objects.filter(name=namespace_name).first()
    if namespace is None:
        namespace = make_organization(namespace_name).namespace
    return Repository.objects.create(namespace=namespace, name=name, full_name=full_name, visibility=visibility)


def bearer(username: str, *access: tuple[str, str]) -> str:
    """An Authorization header with a registry token, e.g. bearer("alice", ("alice/app", "pull,push"))."""
    grants = [{"type": "repository", "name": name, "actions": actions.split(",")} for name, actions in access]
    user = User.objects.filter(username=username).first() if username else None
    token, _ = tokens.issue(username, grants, f"user:{user.pk}" if user else "")
    return f"Bearer {token}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    """An OCI image manifest for the given config and layer bytes (which the test must push)."""
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer),
                    "size": len(layer)} for layer in layers],
        **extra,
    }
    return json.dumps(document).encode()


def make_team(organization: Organization, name: str, role: int = TeamRole.MEMBER, *members: User) -> Team:
    team = Team.objects.create(organization=organization, name=name, role=role)
    for member in members:
        TeamMember.objects.create(team=team, user=member)
    return team


def make_robot(namespace_name: str, name: str) -> tuple[Robot, str]:
    """A robot `namespace+name` and its token (the only time the token is seen)."""
    from portal.accounts.credentials import ROBOT_PREFIX, digest, new_secret

    token = new_secret(ROBOT_PREFIX)
    robot = Robot.objects.create(namespace=Namespace.objects.get(name=namespace_name), name=name,
                                 token_digest=digest(token))
    return robot, token


def make_api_token(user: User, *scopes: str, expires_at: Any = None, name: str = "test") -> str:
    """A personal API token of `user` with the given scopes; returns the secret."""
    from portal.accounts.credentials import TOKEN_PREFIX, digest, new_secret

    secret = new_secret(TOKEN_PREFIX)
    ApiToken.objects.create(user=user, name=name, token_digest=digest(secret), prefix=secret[:14],
                            scopes=list(scopes), expires_at=expires_at)
    return secret


def grant(repository: Repository, role: str, *, user: User | None = None, team: Team | None = None,
          robot: Robot | None = None) -> RepositoryPermission:
    """Give one user, team or robot `role` (read, write or admin) on the repository."""
    value = {"read": RepositoryRole.READ, "write": RepositoryRole.WRITE, "admin": RepositoryRole.ADMIN}[role]
    return RepositoryPermission.objects.create(repository=repository, role=value, user=user, team=team, robot=robot)
