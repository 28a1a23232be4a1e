"""portal.access: the role of every kind of principal on every kind of repository, and what each may read.

The columns are acme/app (private, granted), acme/site (public), acme/vault (private, granted to no one),
acme/new (missing: the answer is about creating it) and writer/tools (a user's private repository).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.access import ANONYMOUS, Principal, Role, allowed_actions, readable_repositories, repository_role
from portal.accounts.models import Namespace
from portal.repositories.models import Visibility
from tests.auth.conftest import World, token_principal
from tests.factories import grant, make_api_token, make_repository

N, R, W, A = Role.NONE, Role.READ, Role.WRITE, Role.ADMIN
COLUMNS = ["acme/app", "acme/site", "acme/vault", "acme/new", "writer/tools"]

ROLES = {
    #                   app site vault new tools
    "anonymous":       (N, R, N, N, N),
    "outsider":        (N, R, N, N, N),
    "reader":          (R, R, N, N, N),
    "writer":          (W, R, N, N, A),
    "repoadmin":       (A, R, N, N, N),
    "teamwriter":      (W, R, N, N, N),
    "member":          (N, R, N, N, N),
    "creator":         (N, R, N, W, N),
    "owner":           (A, A, A, W, N),
    "globexowner":     (N, R, N, N, N),
    "disabled":        (N, R, N, N, N),
    "root":            (A, A, A, W, A),
    "robot:ci":        (W, R, N, N, N),
    "robot:puller":    (R, R, N, N, N),
    "robot:idle":      (N, R, N, N, N),
}

READABLE = {
    "anonymous": {"acme/site"},
    "outsider": {"acme/site"},
    "reader": {"acme/app", "acme/site"},
    "writer": {"acme/app", "acme/site", "writer/tools"},
    "repoadmin": {"acme/app", "acme/site"},
    "teamwriter": {"acme/app", "acme/site"},
    "member": {"acme/site"},
    "creator": {"acme/site"},
    "owner": {"acme/app", "acme/site", "acme/vault"},
    "globexowner": {"acme/site", "globex/secret"},
    "disabled": {"acme/site"},
    "root": {"acme/app", "acme/site", "acme/vault", "writer/tools", "globex/secret"},
    "robot:ci": {"acme/app", "acme/site"},
    "robot:puller": {"acme/app", "acme/site"},
    "robot:idle": {"acme/site"},
}


def roles_of(world: World, principal: Principal | None) -> tuple[Role, ...]:
    return tuple(repository_role(principal, world.repos.get(name), name) for name in COLUMNS)


def readable(principal: Principal | None) -> set[str]:
    return set(readable_repositories(principal).values_list("full_name", flat=True))


@pytest.mark.parametrize("persona", ROLES)
def test_each_persona_holds_exactly_its_role_on_each_repository(world: World, persona: str) -> None:
    assert roles_of(world, world.principal(persona)) == ROLES[persona]


@pytest.mark.parametrize("persona", READABLE)
def test_each_persona_reads_exactly_the_repositories_it_may_pull(world: World, persona: str) -> None:
    principal = world.principal(persona)

    assert readable(principal) == READABLE[persona]
    # The listing and the per-repository answer agree on every existing repository.
    for name, repository in world.repos.items():
        assert (name in READABLE[persona]) == (repository_role(principal, repository, name) >= Role.READ), name


@pytest.mark.django_db
def test_none_is_anonymous() -> None:
    assert repository_role(None, None, "acme/app") == Role.NONE
    assert repository_role(ANONYMOUS, None, "acme/app") == Role.NONE
    assert list(readable_repositories(None)) == []


def test_the_highest_of_several_grants_wins(world: World) -> None:
    app = world.repos["acme/app"]
    # reader also joins the deployers team (write on acme/app): the team's write beats the direct read.
    world.users["reader"].teams.add(app.permissions.get(team__isnull=False).team)

    assert repository_role(world.principal("reader"), app, "acme/app") == Role.WRITE


def test_a_creator_with_a_grant_holds_the_grant(world: World) -> None:
    grant(world.repos["acme/vault"], "read", user=world.users["creator"])

    assert repository_role(world.principal("creator"), world.repos["acme/vault"], "acme/vault") == Role.READ


def test_a_creator_may_not_create_in_another_organization_or_a_users_namespace(world: World) -> None:
    creator = world.principal("creator")

    assert repository_role(creator, None, "globex/new") == Role.NONE
    assert repository_role(creator, None, "writer/new") == Role.NONE


def test_nobody_creates_in_a_namespace_that_does_not_exist(world: World) -> None:
    for persona in ("owner", "creator", "writer", "outsider"):
        assert repository_role(world.principal(persona), None, "ghost/app") == Role.NONE, persona


def test_a_user_creates_in_their_own_namespace_only(world: World) -> None:
    writer = world.principal("writer")

    assert repository_role(writer, None, "writer/new") == Role.WRITE
    assert repository_role(writer, None, "reader/new") == Role.NONE
    assert repository_role(world.principal("outsider"), None, "writer/new") == Role.NONE


def test_making_a_repository_public_opens_it_to_everyone_for_reading_only(world: World) -> None:
    vault = world.repos["acme/vault"]
    vault.visibility = Visibility.PUBLIC
    vault.save()

    for persona in ("anonymous", "outsider", "member", "robot:idle", "disabled"):
        assert repository_role(world.principal(persona), vault, "acme/vault") == Role.READ, persona
        assert "acme/vault" in readable(world.principal(persona)), persona


def test_a_principal_built_for_a_disabled_user_holds_nothing_beyond_public(world: World) -> None:
    active = Principal.for_user(world.users["writer"])
    frozen = Principal("user", "writer", world.users["writer"].pk, is_active=False)

    assert repository_role(active, world.repos["acme/app"], "acme/app") == Role.WRITE
    assert repository_role(frozen, world.repos["acme/app"], "acme/app") == Role.NONE
    assert repository_role(frozen, None, "writer/new") == Role.NONE
    assert readable(frozen) == {"acme/site"}


def test_a_robot_never_creates_even_in_its_own_namespace(world: World) -> None:
    for name in ("ci", "puller", "idle"):
        assert repository_role(world.principal(f"robot:{name}"), None, "acme/new") == Role.NONE


def test_a_robot_of_one_namespace_holds_nothing_in_another_without_a_grant(world: World) -> None:
    ci = world.principal("robot:ci")
    assert repository_role(ci, world.repos["globex/secret"], "globex/secret") == Role.NONE
    grant(world.repos["globex/secret"], "read", robot=world.robots["ci"][0])
    assert repository_role(ci, world.repos["globex/secret"], "globex/secret") == Role.READ


def test_the_grants_of_a_deleted_robot_are_gone(world: World) -> None:
    robot, _ = world.robots["ci"]
    principal = world.principal("robot:ci")
    robot.delete()

    assert repository_role(principal, world.repos["acme/app"], "acme/app") == Role.NONE
    assert readable(principal) == {"acme/site"}


# --- personal API tokens: the owner's rights, capped by the token's scopes ---------------------------------------

# The owner administers acme: full rights are A A A W (and nothing on writer/tools).
TOKEN_ROLES = {
    ("repo:read",):                             (R, R, R, N, N),
    ("repo:write",):                            (W, W, W, N, N),
    ("repo:admin",):                            (A, A, A, N, N),
    ("repo:write", "repo:create"):              (W, W, W, W, N),
    ("repo:admin", "repo:create"):              (A, A, A, W, N),
    ("repo:read", "repo:create"):               (R, R, R, N, N),   # creating by push needs push
    ("repo:create",):                           (N, R, N, N, N),
    ("org:admin",):                             (N, R, N, N, N),
    ("user:admin",):                            (N, R, N, N, N),
    ("org:admin", "user:admin", "repo:read"):   (R, R, R, N, N),
}


@pytest.mark.parametrize("scopes", TOKEN_ROLES, ids=["+".join(s) for s in TOKEN_ROLES])
def test_an_owners_token_holds_the_owners_rights_capped_by_its_scopes(world: World, scopes: tuple[str, ...]) -> None:
    principal = token_principal(make_api_token(world.users["owner"], *scopes))

    assert roles_of(world, principal) == TOKEN_ROLES[scopes]


@pytest.mark.parametrize("scopes", [("repo:read",), ("repo:admin", "repo:create"), ("repo:create",)])
def test_a_token_never_holds_more_than_its_user(world: World, scopes: tuple[str, ...]) -> None:
    principal = token_principal(make_api_token(world.users["reader"], *scopes))
    user_roles = ROLES["reader"]

    assert all(t <= u for t, u in zip(roles_of(world, principal), user_roles, strict=True))


def test_a_token_reads_exactly_what_its_user_reads_when_it_has_repo_read(world: World) -> None:
    for persona in ("writer", "owner", "teamwriter", "root"):
        principal = token_principal(make_api_token(world.users[persona], "repo:read"))
        assert readable(principal) == READABLE[persona], persona


@pytest.mark.parametrize("scopes", [("repo:create",), ("org:admin",), ("user:admin",)])
def test_a_token_without_a_repo_scope_reads_only_public_repositories(world: World, scopes: tuple[str, ...]) -> None:
    principal = token_principal(make_api_token(world.users["owner"], *scopes))

    assert readable(principal) == {"acme/site"}


def test_a_token_creates_in_its_users_namespace_only_with_repo_create(world: World) -> None:
    writer = world.users["writer"]
    with_create = token_principal(make_api_token(writer, "repo:write", "repo:create"))
    without = token_principal(make_api_token(writer, "repo:admin"))

    assert repository_role(with_create, None, "writer/new") == Role.WRITE
    assert repository_role(without, None, "writer/new") == Role.NONE
    assert repository_role(without, world.repos["writer/tools"], "writer/tools") == Role.ADMIN


def test_an_expired_token_or_a_disabled_owner_yields_no_principal(world: World) -> None:
    from portal.accounts import credentials
    from portal.accounts.models import ApiToken

    make_api_token(world.users["writer"], "repo:read", expires_at=timezone.now() - timedelta(seconds=1), name="old")
    make_api_token(world.users["disabled"], "repo:read", name="frozen")

    for token in ApiToken.objects.select_related("user"):
        assert credentials.token_principal(token) is None, token.name


def test_a_superusers_token_is_capped_like_anyone_elses(world: World) -> None:
    principal = token_principal(make_api_token(world.users["root"], "repo:read"))

    assert roles_of(world, principal) == (R, R, R, N, R)


# --- the registry's actions, and namespaces -----------------------------------------------------------------------

@pytest.mark.parametrize(("role", "granted"), [
    (Role.NONE, []), (Role.READ, ["pull"]), (Role.WRITE, ["pull", "push", "delete"]),
    (Role.ADMIN, ["pull", "push", "delete", "*"]),
])
def test_the_registry_actions_follow_the_role(role: Role, granted: list[str]) -> None:
    assert allowed_actions(role, ["pull", "push", "delete", "*", "bogus"]) == granted


def test_a_new_user_owns_the_namespace_of_their_name(db: None) -> None:
    from tests.factories import make_user

    dora = make_user("dora")

    assert Namespace.objects.get(name="dora").user == dora
    assert repository_role(Principal.for_user(dora), None, "dora/anything") == Role.WRITE


def test_grants_on_a_users_repository_work_like_an_organizations(world: World) -> None:
    tools = world.repos["writer/tools"]
    grant(tools, "read", user=world.users["outsider"])

    assert repository_role(world.principal("outsider"), tools, "writer/tools") == Role.READ
    assert "writer/tools" in readable(world.principal("outsider"))


def test_a_repository_deep_in_a_namespace_belongs_to_its_first_component(world: World) -> None:
    deep = make_repository("acme/tools/builder")

    assert repository_role(world.principal("owner"), deep, "acme/tools/builder") == Role.ADMIN
    assert repository_role(world.principal("creator"), None, "acme/tools/new") == Role.WRITE
    assert repository_role(world.principal("writer"), deep, "acme/tools/builder") == Role.NONE


def test_org_roles_and_namespace_rights(world: World) -> None:
    from portal.access import administers_namespace, is_org_admin, is_org_member, may_create_in

    acme = Namespace.objects.get(name="acme")
    assert acme.organization is not None
    expected = {  # persona: (member, admin, may create, administers)
        "owner": (True, True, True, True), "creator": (True, False, True, False),
        "member": (True, False, False, False), "teamwriter": (True, False, False, False),
        "outsider": (False, False, False, False), "disabled": (False, False, False, False),
        "root": (True, True, True, True), "robot:ci": (False, False, False, False),
        "anonymous": (False, False, False, False),
    }
    for persona, answer in expected.items():
        principal = world.principal(persona)
        got = (is_org_member(principal, acme.organization), is_org_admin(principal, acme.organization),
               may_create_in(principal, acme), administers_namespace(principal, acme))
        assert got == answer, persona


def test_an_owners_token_administers_the_organization_only_with_org_admin(world: World) -> None:
    from portal.access import administers_namespace, may_create_in

    acme = Namespace.objects.get(name="acme")
    owner = world.users["owner"]

    assert administers_namespace(token_principal(make_api_token(owner, "org:admin", name="a")), acme)
    assert not administers_namespace(token_principal(make_api_token(owner, "repo:admin", name="b")), acme)
    assert may_create_in(token_principal(make_api_token(owner, "repo:create", name="c")), acme)
    assert not may_create_in(token_principal(make_api_token(owner, "org:admin", name="d")), acme)
