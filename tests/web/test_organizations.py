"""Organization pages: create, overview, teams and members, robots, default permissions, logs, delete."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import Organization, Robot, Team, TeamMember, TeamRole, User
from portal.audit.models import LogEntry
from portal.repositories.models import DefaultPermission, Repository
from tests.factories import grant, make_organization, make_repository, make_robot, make_team
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
PAGES = ["", "teams/", "teams/owners/", "robots/", "default-permissions/", "logs/"]
ADMIN_PAGES = ["robots/", "default-permissions/", "logs/"]


@pytest.fixture
def acme(alice: User, bob: User) -> Organization:
    """alice owns acme; bob is in its member team 'devs'."""
    organization = make_organization("acme", alice)
    make_team(organization, "devs", TeamRole.MEMBER, bob)
    return organization


def test_creating_an_organization_puts_the_creator_in_owners(login_as: Login, alice: User) -> None:
    response = login_as(alice).post("/organizations/new/", {"name": "acme"}, follow=True)

    assert response.redirect_chain[-1][0] == "/organization/acme/"
    owners = Team.objects.get(organization__name="acme", name="owners")
    assert owners.role == TeamRole.ADMIN and list(owners.members.all()) == [alice]
    assert "alice" in text(response) and LogEntry.objects.filter(kind="org_create", target="acme").exists()


@pytest.mark.parametrize(("name", "message"), [
    ("alice", "The name 'alice' is taken."),
    ("settings", "'settings' is reserved; choose another name."),
    ("Acme!", "Use lower-case letters"),
])
def test_organization_names_are_checked(login_as: Login, alice: User, name: str, message: str) -> None:
    response = login_as(alice).post("/organizations/new/", {"name": name})

    assert response.status_code == 400 and message in response.context["form"].errors["name"][0]
    assert not Organization.objects.exists()


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client: Client, acme: Organization, page: str) -> None:
    response = client.get(f"/organization/acme/{page}")

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", PAGES)
def test_outsiders_get_the_same_404_as_for_a_missing_organization(login_as: Login, acme: Organization,
                                                                  charlie: User, page: str) -> None:
    client = login_as(charlie)

    existing = client.get(f"/organization/acme/{page}")
    missing = client.get(f"/organization/nothere/{page}")

    assert existing.status_code == missing.status_code == 404
    assert text(existing) == text(missing)
    posted = client.post(f"/organization/acme/{page}", {"action": "delete"})
    assert posted.status_code == client.post(f"/organization/nothere/{page}", {"action": "delete"}).status_code
    assert posted.status_code in (404, 405)   # 405: the log is read-only, for everyone alike


def test_members_read_members_and_teams(login_as: Login, acme: Organization, bob: User) -> None:
    client = login_as(bob)

    overview = client.get("/organization/acme/")
    teams = client.get("/organization/acme/teams/")
    team = client.get("/organization/acme/teams/devs/")

    assert overview.status_code == teams.status_code == team.status_code == 200
    assert "alice" in text(overview) and "bob" in text(overview)
    assert "devs" in text(teams) and "Create team" not in text(teams)
    assert "Add member" not in text(team) and "Remove" not in text(team)
    assert "/organization/acme/robots/" not in text(overview)   # the admin tabs are not offered


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_members_are_refused_the_admin_pages(login_as: Login, acme: Organization, bob: User, page: str) -> None:
    assert login_as(bob).get(f"/organization/acme/{page}").status_code == 403


@pytest.mark.parametrize(("page", "data"), [
    ("teams/", {"name": "mine", "role": "admin"}),
    ("teams/devs/", {"action": "role", "role": "admin"}),
    ("teams/devs/", {"action": "member_add", "username": "charlie"}),
    ("", {"confirm": "acme"}),
])
def test_members_cannot_change_anything(login_as: Login, acme: Organization, bob: User, page: str,
                                        data: dict[str, str]) -> None:
    response = login_as(bob).post(f"/organization/acme/{page}", data)

    assert response.status_code == 403
    assert Team.objects.get(name="devs").role == TeamRole.MEMBER
    assert not Team.objects.filter(name="mine").exists() and Organization.objects.exists()


# --- Teams ----------------------------------------------------------------------------------------------------

def test_an_admin_creates_a_team_and_manages_its_members(login_as: Login, acme: Organization, alice: User,
                                                         charlie: User) -> None:
    client = login_as(alice)

    created = client.post("/organization/acme/teams/", {"name": "builders", "role": "creator"}, follow=True)
    added = client.post("/organization/acme/teams/builders/", {"action": "member_add", "username": "charlie"},
                        follow=True)
    role = client.post("/organization/acme/teams/builders/", {"action": "role", "role": "admin"}, follow=True)
    removed = client.post("/organization/acme/teams/builders/", {"action": "member_remove", "username": "charlie"},
                          follow=True)

    assert created.redirect_chain[-1][0] == "/organization/acme/teams/builders/"
    assert "Added charlie to builders." in messages_of(added)
    assert "builders now has the role admin." in messages_of(role)
    assert "Removed charlie from builders." in messages_of(removed)
    team = Team.objects.get(name="builders")
    assert team.role == TeamRole.ADMIN and not team.members.exists()
    assert {"team_create", "team_member_add", "team_update", "team_member_remove"} <= set(
        LogEntry.objects.values_list("kind", flat=True))


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "Bad Name", "role": "member"}, "name", "Invalid team name"),
    ({"name": "devs", "role": "member"}, "name", "already has a team named 'devs'"),
    ({"name": "ops", "role": "owner"}, "role", "Unknown team role: use one of member, creator, admin."),
])
def test_team_form_errors(login_as: Login, acme: Organization, alice: User, data: dict[str, str], field: str,
                          message: str) -> None:
    response = login_as(alice).post("/organization/acme/teams/", data)

    assert response.status_code == 400 and message in response.context["team_form"].errors[field][0]
    assert Team.objects.count() == 2


def test_adding_an_unknown_user_and_setting_an_unknown_role_are_refused(login_as: Login, acme: Organization,
                                                                        alice: User) -> None:
    client = login_as(alice)

    nobody = client.post("/organization/acme/teams/devs/", {"action": "member_add", "username": "nobody"})
    role = client.post("/organization/acme/teams/devs/", {"action": "role", "role": "overlord"})

    assert nobody.status_code == 400
    assert nobody.context["member_form"].errors["username"] == ["There is no user named 'nobody'."]
    assert role.status_code == 400 and "Unknown team role" in role.context["role_form"].errors["role"][0]


def test_the_last_admin_cannot_leave_and_the_last_admin_team_stays(login_as: Login, acme: Organization,
                                                                   alice: User) -> None:
    client = login_as(alice)

    leave = client.post("/organization/acme/teams/owners/", {"action": "member_remove", "username": "alice"},
                        follow=True)
    delete = client.post("/organization/acme/teams/owners/", {"action": "delete", "confirm": "1"}, follow=True)

    assert "That would leave the organization without an admin." in messages_of(leave)
    assert "it cannot be deleted" in " ".join(messages_of(delete))
    assert TeamMember.objects.filter(team__name="owners", user=alice).exists()


def test_an_admin_deletes_a_team(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post("/organization/acme/teams/devs/", {"action": "delete", "confirm": "1"}, follow=True)

    assert response.redirect_chain[-1][0] == "/organization/acme/teams/"
    assert "Deleted the team devs." in messages_of(response)
    assert not Team.objects.filter(name="devs").exists()


def test_a_missing_team_is_a_404(login_as: Login, acme: Organization, alice: User) -> None:
    assert login_as(alice).get("/organization/acme/teams/ghosts/").status_code == 404


# --- Robots -----------------------------------------------------------------------------------------------------

def test_an_admin_creates_a_robot_and_sees_its_token_once(login_as: Login, acme: Organization, alice: User) -> None:
    client = login_as(alice)

    created = client.post("/organization/acme/robots/", {"action": "robot_create", "name": "ci"})
    listing = text(client.get("/organization/acme/robots/"))

    token = created.context["secret"]
    assert created.status_code == 200 and "podman login --tls-verify=false -u &#x27;acme+ci&#x27;" in text(created)
    assert "acme+ci" in listing and token not in listing


def test_robot_rows_show_their_repository_permissions(login_as: Login, acme: Organization, alice: User) -> None:
    robot, _ = make_robot("acme", "deploy")
    grant(make_repository("acme/app"), "write", robot=robot)

    listing = text(login_as(alice).get("/organization/acme/robots/"))

    assert "acme/app: write" in listing


def test_an_admin_regenerates_and_deletes_a_robot(login_as: Login, acme: Organization, alice: User) -> None:
    make_robot("acme", "ci")
    client = login_as(alice)

    regenerated = client.post("/organization/acme/robots/",
                              {"action": "robot_regenerate", "robot": "ci", "confirm": "1"})
    deleted = client.post("/organization/acme/robots/",
                          {"action": "robot_delete", "robot": "ci", "confirm": "1"}, follow=True)
    missing = client.post("/organization/acme/robots/", {"action": "robot_delete", "robot": "ci"})

    assert regenerated.status_code == 200 and regenerated.context["secret"].startswith("wharf_robot_")
    assert "Deleted robot acme+ci; its token no longer works." in messages_of(deleted)
    assert missing.status_code == 404 and not Robot.objects.exists()


# --- Default permissions ----------------------------------------------------------------------------------------

def test_an_admin_sets_changes_and_removes_default_permissions(login_as: Login, acme: Organization,
                                                               alice: User) -> None:
    make_robot("acme", "ci")
    client = login_as(alice)
    url = "/organization/acme/default-permissions/"

    client.post(url, {"action": "set", "kind": "teams", "who": "devs", "role": "read"})
    client.post(url, {"action": "set", "kind": "robots", "who": "acme+ci", "role": "write"})
    client.post(url, {"action": "set", "kind": "teams", "who": "devs", "role": "write"})
    page = text(client.get(url))
    removed = client.post(url, {"action": "delete", "kind": "robots", "who": "acme+ci", "confirm": "1"}, follow=True)

    assert "<code>devs</code>" in page and "<code>acme+ci</code>" in page
    assert "Removed the default permission of acme+ci." in messages_of(removed)
    assert [(d.team.name if d.team else None, d.role) for d in DefaultPermission.objects.all()] == [("devs", 2)]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"kind": "teams", "who": "devs", "role": "owner"}, "role", "Unknown role: use one of read, write, admin."),
    ({"kind": "users", "who": "nobody", "role": "read"}, "who", "There is no user named 'nobody'."),
    ({"kind": "teams", "who": "ghosts", "role": "read"}, "who", "'acme' has no team named 'ghosts'."),
    ({"kind": "groups", "who": "devs", "role": "read"}, "kind", "Permissions are granted to users, teams or robots."),
])
def test_default_permission_errors(login_as: Login, acme: Organization, alice: User, data: dict[str, str],
                                   field: str, message: str) -> None:
    response = login_as(alice).post("/organization/acme/default-permissions/", {"action": "set", **data})

    assert response.status_code == 400
    assert message in response.context["grant_form"].errors[field]
    assert not DefaultPermission.objects.exists()


def test_removing_a_missing_default_permission_says_so(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post("/organization/acme/default-permissions/",
                                    {"action": "delete", "kind": "teams", "who": "devs", "confirm": "1"}, follow=True)

    assert "'devs' has no default permission in acme." in messages_of(response)


# --- Logs and deleting --------------------------------------------------------------------------------------------

def test_logs_are_newest_first_and_paginated(login_as: Login, acme: Organization, alice: User) -> None:
    for n in range(55):
        LogEntry.objects.create(kind="team_update", actor="alice", actor_kind="user", namespace=acme.namespace,
                                target=f"entry-{n:02d}")
    LogEntry.objects.create(kind="team_update", actor="x", namespace=None, target="elsewhere")
    client = login_as(alice)

    first = text(client.get("/organization/acme/logs/"))
    second = text(client.get("/organization/acme/logs/?page=2"))

    assert first.index("entry-54") < first.index("entry-53") and "entry-04" not in first
    assert "entry-04" in second and "entry-00" in second and "Page 2 of 2" in second
    assert "elsewhere" not in first + second


def test_deleting_an_organization_needs_its_name_typed(login_as: Login, acme: Organization, alice: User) -> None:
    make_repository("acme/app")
    client = login_as(alice)

    wrong = client.post("/organization/acme/", {"confirm": "acm"})
    right = client.post("/organization/acme/", {"confirm": "acme"}, follow=True)

    assert wrong.status_code == 400 and wrong.context["delete_form"].errors["confirm"] == ["Type 'acme' to confirm."]
    assert right.redirect_chain[-1][0] == "/"
    assert not Organization.objects.exists() and not Repository.objects.exists()
