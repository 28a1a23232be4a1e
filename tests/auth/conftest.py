"""One small organization with a member of every kind, for the authorization tests.

acme (an organization) holds three repositories: acme/app (private, with grants), acme/site (public) and
acme/vault (private, granted to no one). Its teams are owners (admin), builders (creator), staff (member,
no grants) and deployers (member, write on acme/app). Robots: acme+ci (write on acme/app), acme+puller (read
on acme/app) and acme+idle (no grants). A second organization, globex, has an owner of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password

from portal.access import Principal
from portal.accounts import credentials
from portal.accounts.models import ApiToken, Robot, TeamRole, User
from portal.repositories.models import Repository, Visibility
from registry_api import auth, tokens
from tests.factories import PASSWORD, grant, make_organization, make_repository, make_robot, make_team, make_user


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    repos: dict[str, Repository] = field(default_factory=dict)
    robots: dict[str, tuple[Robot, str]] = field(default_factory=dict)

    def principal(self, persona: str) -> Principal:
        """The principal a persona speaks as: a user by name, `robot:NAME`, or `anonymous`."""
        if persona == "anonymous":
            return Principal()
        if persona.startswith("robot:"):
            robot, _ = self.robots[persona.split(":", 1)[1]]
            return robot_principal(robot)
        user = User.objects.get(pk=self.users[persona].pk)
        return Principal.for_user(user)


def robot_principal(robot: Robot) -> Principal:
    robot.refresh_from_db()
    return credentials.robot_principal(robot.pk, robot.full_name, robot.token_digest)


def token_principal(secret: str) -> Principal:
    token = ApiToken.objects.select_related("user").get(token_digest=credentials.digest(secret))
    principal = credentials.token_principal(token)
    assert principal is not None
    return principal


def registry_header(principal: Principal, *scopes: str) -> str:
    """A Bearer header exactly as the token endpoint would issue it for `principal` (without its password:
    bcrypt costs a quarter of a second a user, and the token endpoint has tests of its own)."""
    access = [g for s in scopes for g in [auth.grant(principal, s)] if g is not None]
    signed, _ = tokens.issue(principal.username, access, credentials.credential_of(principal))
    return f"Bearer {signed}"


def build_world() -> World:
    world = World()
    names = ["owner", "creator", "member", "reader", "writer", "repoadmin", "teamwriter", "outsider",
             "globexowner"]
    for name in names:
        world.users[name] = make_user(name)
    world.users["disabled"] = make_user("disabled", is_active=False)
    world.users["root"] = make_user("root", is_superuser=True, is_staff=True)
    u = world.users
    acme = make_organization("acme", owner=u["owner"])
    make_organization("globex", owner=u["globexowner"])
    make_team(acme, "builders", TeamRole.CREATOR, u["creator"])
    make_team(acme, "staff", TeamRole.MEMBER, u["member"], u["disabled"])
    deployers = make_team(acme, "deployers", TeamRole.MEMBER, u["teamwriter"])
    app = world.repos["acme/app"] = make_repository("acme/app")
    world.repos["acme/site"] = make_repository("acme/site", Visibility.PUBLIC)
    world.repos["acme/vault"] = make_repository("acme/vault")
    world.repos["writer/tools"] = make_repository("writer/tools")
    world.repos["globex/secret"] = make_repository("globex/secret")
    grant(app, "read", user=u["reader"])
    grant(app, "write", user=u["writer"])
    grant(app, "admin", user=u["repoadmin"])
    grant(app, "write", user=u["disabled"])
    grant(app, "write", team=deployers)
    for name in ("ci", "puller", "idle"):
        world.robots[name] = make_robot("acme", name)
    grant(app, "write", robot=world.robots["ci"][0])
    grant(app, "read", robot=world.robots["puller"][0])
    return world


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture
def fast_hashes(settings: Any, world: World) -> None:
    """For tests that try many passwords: bcrypt spends a third of a second on each by design, and what
    they test does not depend on the hash, so passwords (and the dummy hash for unknown users) use a fast
    one. The bcrypt path itself is exercised by every other test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    User.objects.update(password=make_password(PASSWORD))
