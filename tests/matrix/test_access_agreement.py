"""The rule "who may read which repository" is written twice in portal.access: as raw SQL behind
repository_role() (one repository, asked by the registry, the API and the pages) and as ORM filters in
readable_repositories() (the catalog, search and listings). These tests hold the two to one answer for every
principal on every repository, and hold repository_role()'s answer for a missing repository (creating it by
push) to may_create_in().

The world is the authorization matrix's (tests/matrix/world.py) and more of every kind: public and private
repositories in an organization, in a second organization and in user namespaces; grants to users, teams and
robots; team members of each team role; a superuser; disabled users; robots with and without grants; API
tokens with each mix of scopes; and a user renamed after sign-up, whose namespace keeps its old name.
"""

from __future__ import annotations

from itertools import product

import pytest

from portal.access import Principal, Role, may_create_in, readable_repositories, repository_role
from portal.accounts import credentials
from portal.accounts.models import ApiToken, Namespace, TeamRole, User
from portal.repositories.models import Repository, Visibility
from tests.factories import grant, make_api_token, make_organization, make_repository, make_robot, make_team, make_user
from tests.matrix.world import build_world

TOKEN_SCOPES = [
    (),
    ("repo:read",),
    ("repo:write",),
    ("repo:admin",),
    ("repo:create",),
    ("repo:read", "repo:create"),
    ("repo:write", "repo:create"),
    ("repo:admin", "repo:create", "org:admin"),
    ("org:admin", "user:admin"),
]
TOKEN_HOLDERS = ("olivia", "ada", "cora", "mike", "walt", "rita", "root")


def _user(name: str) -> User:
    return User.objects.get(username=name)


def _token(user: User, scopes: tuple[str, ...]) -> Principal:
    secret = make_api_token(user, *scopes, name="+".join(scopes) or "none")
    principal = credentials.token_principal(ApiToken.objects.get(token_digest=credentials.digest(secret)))
    assert principal is not None
    return principal


def build_cast() -> dict[str, Principal]:
    """Every principal of the matrix world and of the additions below, by a name for the failure message."""
    world = build_world()
    walt, rita, mike = (_user(n) for n in ("walt", "rita", "mike"))
    acme = Namespace.objects.get(name="acme").organization
    assert acme is not None
    ada, gina, ivan = make_user("ada"), make_user("gina"), make_user("ivan")
    make_user("root", is_superuser=True)
    make_team(acme, "platform", TeamRole.ADMIN, ada, ivan)     # an admin team besides owners
    devs = acme.teams.get(name="devs")
    globex = make_organization("globex", gina)
    make_team(globex, "builders", TeamRole.CREATOR, mike)

    make_repository("acme/site", Visibility.PUBLIC)
    vault = make_repository("acme/vault")                      # reached only through teams and robots
    secret = make_repository("globex/secret")
    make_repository("globex/open", Visibility.PUBLIC)
    tools = make_repository("walt/tools")
    make_repository("walt/pub", Visibility.PUBLIC)
    make_repository("rita/notes")
    grant(vault, "read", team=devs)
    grant(secret, "write", user=rita)
    grant(tools, "read", user=rita)
    grant(tools, "admin", user=ivan)
    grant(Repository.objects.get(full_name="acme/app"), "write", user=ivan)

    idle, _ = make_robot("acme", "idle")
    deploy, _ = make_robot("globex", "deploy")
    grant(vault, "write", robot=deploy)                        # a robot granted outside its own namespace

    # Renamed after sign-up (the admin lets a superuser edit usernames): the namespace keeps its name and
    # its owner. "otto" becomes "globex", the name of an organization he has no part in.
    make_user("renee")
    make_repository("renee/diary")
    User.objects.filter(username="otto").update(username="globex")
    User.objects.filter(username="renee").update(username="renata")
    ivan.is_active = False
    ivan.save()

    cast = {name: persona.principal for name, persona in world.personas.items()}
    cast |= {name: Principal.for_user(_user(name)) for name in ("ada", "gina", "ivan", "root", "renata")}
    cast["renamed_into_an_org_name"] = Principal.for_user(_user("globex"))
    cast["disabled_after_sign_in"] = Principal("user", "walt", walt.pk, is_active=False)
    cast["robot:idle"] = credentials.robot_principal(idle.pk, "acme+idle", idle.token_digest)
    cast["robot:deploy"] = credentials.robot_principal(deploy.pk, "globex+deploy", deploy.token_digest)
    for holder, scopes in product(TOKEN_HOLDERS, TOKEN_SCOPES):
        cast[f"token:{holder}:{'+'.join(scopes) or 'no scopes'}"] = _token(_user(holder), scopes)
    return cast


@pytest.fixture
def cast(db: object) -> dict[str, Principal]:
    return build_cast()


def test_a_principal_may_read_a_repository_exactly_when_the_listings_show_it(cast: dict[str, Principal]) -> None:
    repositories = list(Repository.objects.order_by("full_name"))
    disagreements, private_reads = [], 0
    for name, principal in cast.items():
        listed = set(readable_repositories(principal).values_list("full_name", flat=True))
        for repository in repositories:
            role = repository_role(principal, repository, repository.full_name)
            if (role >= Role.READ) != (repository.full_name in listed):
                disagreements.append(f"{name} on {repository.full_name}: role {role.name}, "
                                     f"{'listed' if repository.full_name in listed else 'not listed'}")
            private_reads += role >= Role.READ and not repository.is_public

    assert not disagreements, "\n".join(disagreements)
    assert private_reads > 50    # the world grants private reads of every kind, so agreement is not vacuous


def test_a_principal_may_create_by_push_exactly_where_it_may_create_and_push(cast: dict[str, Principal]) -> None:
    # may_create_in() answers the API and the pages, which may create an empty repository with repo:create
    # alone; creating by push is also a push, so repository_role() asks for a scope that pushes as well
    # (repo:write or more). Only that cap separates the two answers.
    namespaces = list(Namespace.objects.select_related("organization").order_by("name"))
    disagreements, creations = [], 0
    for (name, principal), namespace in product(cast.items(), namespaces):
        role = repository_role(principal, None, f"{namespace.name}/new")
        expected = Role.WRITE if may_create_in(principal, namespace) and principal.cap >= Role.WRITE else Role.NONE
        if role != expected:
            disagreements.append(f"{name} in {namespace.name}: role {role.name}, expected {expected.name}")
        creations += role == Role.WRITE

    assert not disagreements, "\n".join(disagreements)
    assert creations > 20


def test_a_renamed_user_keeps_their_namespace_and_gains_no_other(cast: dict[str, Principal]) -> None:
    renata, into_globex = cast["renata"], cast["renamed_into_an_org_name"]
    diary, secret = Repository.objects.get(full_name="renee/diary"), Repository.objects.get(full_name="globex/secret")

    assert repository_role(renata, diary, "renee/diary") == Role.ADMIN
    assert repository_role(renata, None, "renee/new") == Role.WRITE
    assert repository_role(into_globex, secret, "globex/secret") == Role.NONE
    assert repository_role(into_globex, None, "globex/new") == Role.NONE
    assert repository_role(into_globex, None, "otto/new") == Role.WRITE
