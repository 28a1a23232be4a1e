"""A small world for the API tests: the organization acme and one persona for each way of relating to it.

Most tests authorise through `as_(persona)`, which hands the view the persona's principal directly (the way
each authentication class would); tests/api/test_authentication.py drives the real Bearer, Basic and
session paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from portal.access import ANONYMOUS, Principal
from portal.accounts import credentials
from portal.accounts.models import ApiToken, Organization, Robot, Team, TeamRole, User
from portal.api.authentication import RobotUser
from portal.repositories.models import DefaultPermission, Repository, RepositoryRole, Visibility
from tests.factories import grant, make_api_token, make_organization, make_repository, make_robot, make_team, make_user

PERSONAS = ("anonymous", "outsider", "reader", "writer", "repo_admin", "member", "creator", "owner", "robot",
            "token")


@dataclass
class World:
    """acme (owned by alice) with the private acme/app, the public acme/site and the private acme/tools/builder.

    reader, writer, repo_admin hold that role on acme/app directly; member is in the team devs, which reads
    acme/app; creator is in the team builders (role creator); the robot acme+ci reads acme/app; token is
    one of alice's API tokens with only the repo:read scope.
    """

    org: Organization
    app: Repository
    site: Repository
    builder: Repository
    devs: Team
    builders: Team
    robot: Robot
    robot_token: str
    token_secret: str
    users: dict[str, User] = field(default_factory=dict)

    def principal(self, persona: str) -> Principal:
        if persona == "anonymous":
            return ANONYMOUS
        if persona == "robot":
            return credentials.robot_principal(self.robot.pk, self.robot.full_name, self.robot.token_digest)
        if persona == "token":
            token = ApiToken.objects.select_related("user").get(token_digest=credentials.digest(self.token_secret))
            found = credentials.token_principal(token)
            assert found is not None
            return found
        return Principal.for_user(self.users[persona])


@pytest.fixture
def world(db: Any) -> World:
    names = {"outsider": "olivia", "reader": "rita", "writer": "walt", "repo_admin": "adam", "member": "mona",
             "creator": "cora", "owner": "alice"}
    users = {persona: make_user(name) for persona, name in names.items()}
    org = make_organization("acme", users["owner"])
    app = make_repository("acme/app")
    site = make_repository("acme/site", Visibility.PUBLIC)
    builder = make_repository("acme/tools/builder")
    grant(app, "read", user=users["reader"])
    grant(app, "write", user=users["writer"])
    grant(app, "admin", user=users["repo_admin"])
    devs = make_team(org, "devs", TeamRole.MEMBER, users["member"])
    grant(app, "read", team=devs)
    builders = make_team(org, "builders", TeamRole.CREATOR, users["creator"])
    robot, robot_token = make_robot("acme", "ci")
    grant(app, "read", robot=robot)
    DefaultPermission.objects.create(organization=org, team=builders, role=RepositoryRole.WRITE)
    secret = make_api_token(users["owner"], "repo:read", name="read-only")
    return World(org, app, site, builder, devs, builders, robot, robot_token, secret, users)


@pytest.fixture
def as_(world: World) -> Any:
    """as_("reader") → an APIClient that speaks for that persona."""

    def client_for(persona: str) -> APIClient:
        client = APIClient()
        principal = world.principal(persona)
        if principal.is_robot:
            client.force_authenticate(RobotUser(principal), principal)
        elif principal.is_authenticated:
            assert principal.user_id is not None
            client.force_authenticate(User.objects.get(pk=principal.user_id), principal)
        return client

    return client_for


def as_user(user: User, scopes: frozenset[str] | None = None) -> APIClient:
    """An APIClient speaking for `user`, with full rights or (given scopes) as one of its API tokens."""
    client = APIClient()
    principal = Principal.for_user(user)
    if scopes is not None:
        principal = Principal("token", user.username, user.pk, token_id=0, scopes=scopes)
    client.force_authenticate(user, principal)
    return client


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run several personas' requests on one world: what each one changes is undone after it."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return dict(body["error"])

