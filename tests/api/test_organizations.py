"""Organizations, their teams, members and default permissions through the API."""

from __future__ import annotations

import pytest

from portal.accounts.models import Organization, Team, TeamMember
from portal.repositories.models import DefaultPermission, Repository, RepositoryPermission
from tests.api.conftest import as_user, error_of
from tests.factories import make_robot

API = "/api/v1/organizations/"


def test_a_person_creates_an_organization_and_owns_it(alice):
    response = as_user(alice).post(API, {"name": "initech"}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "initech"
    assert response.json()["role"] == "admin"
    owners = Team.objects.get(organization__name="initech", name="owners")
    assert list(owners.members.values_list("username", flat=True)) == ["alice"]


def test_a_token_with_org_admin_may_create_an_organization(alice):
    response = as_user(alice, frozenset({"org:admin"})).post(API, {"name": "initech"}, format="json")

    assert response.status_code == 201


def test_a_token_without_org_admin_is_told_which_scope_it_lacks(alice):
    response = as_user(alice, frozenset({"repo:admin", "user:admin"})).post(API, {"name": "initech"},
                                                                          format="json")

    assert response.status_code == 403
    assert error_of(response)["message"] == ("This API token lacks the org:admin scope, which is needed to "
                                             "create organizations.")


def test_a_robot_may_not_create_an_organization(world, as_):
    response = as_("robot").post(API, {"name": "initech"}, format="json")

    assert response.status_code == 403
    assert error_of(response)["message"] == "Robot accounts cannot create organizations."


@pytest.mark.parametrize(("name", "status", "message"), [
    ("admin", 400, "'admin' is reserved; choose another name."),
    ("Initech", 400, "Use lower-case letters"),
    ("ini--", 400, "Use lower-case letters"),
    ("", 400, "name: This field may not be blank."),
    ("alice", 409, "The name 'alice' is taken."),
    ("acme", 409, "The name 'acme' is taken."),
])
def test_bad_or_taken_names_are_refused_and_change_nothing(world, as_, name, status, message):
    before = Organization.objects.count()

    response = as_("outsider").post(API, {"name": name}, format="json")

    assert response.status_code == status
    assert error_of(response)["message"].startswith(message)
    assert Organization.objects.count() == before


def test_anyone_sees_that_an_organization_exists(world, as_):
    public = as_("anonymous").get(f"{API}acme/").json()

    assert set(public) == {"name", "created_at", "role"}
    assert public["role"] is None
    assert as_("creator").get(f"{API}acme/").json()["role"] == "creator"
    assert as_("owner").get(f"{API}acme/").json()["role"] == "admin"


def test_an_unknown_organization_is_404(world, as_):
    response = as_("owner").get(f"{API}nobody/teams/")

    assert response.status_code == 404
    assert error_of(response)["message"] == "There is no organization named 'nobody'."


def test_a_user_namespace_is_not_an_organization(world, as_):
    assert as_("owner").get(f"{API}alice/").status_code == 404


def test_deleting_an_organization_takes_its_repositories(world, as_):
    assert as_("owner").delete(f"{API}acme/").status_code == 204

    assert not Organization.objects.exists()
    assert not Repository.objects.exists()


def test_an_outsider_is_told_only_members_may_look(world, as_):
    response = as_("outsider").get(f"{API}acme/teams/")

    assert response.status_code == 403
    assert error_of(response)["message"] == "You may not see the teams of 'acme': only members of 'acme' may."


# --- Teams ------------------------------------------------------------------------------------------------------

def test_members_list_the_teams(world, as_):
    teams = as_("member").get(f"{API}acme/teams/").json()

    assert [(t["name"], t["role"]) for t in teams["results"]] == [
        ("builders", "creator"), ("devs", "member"), ("owners", "admin")]


def test_an_admin_creates_a_team(world, as_):
    response = as_("owner").post(f"{API}acme/teams/", {"name": "qa", "role": "creator", "description": "Q"},
                                 format="json")

    assert response.status_code == 201
    assert response.json()["role"] == "creator"
    assert Team.objects.get(name="qa").description == "Q"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "devs"}, 409, "The organization already has a team named 'devs'."),
    ({"name": "Q A"}, 400, "Invalid team name"),
    ({"name": "qa", "role": "owner"}, 400, "role: Unknown team role: use one of member, creator, admin."),
    ({"role": "member"}, 400, "name: This field is required."),
])
def test_bad_teams_are_refused_and_change_nothing(world, as_, body, status, message):
    before = Team.objects.count()

    response = as_("owner").post(f"{API}acme/teams/", body, format="json")

    assert response.status_code == status
    assert error_of(response)["message"].startswith(message)
    assert Team.objects.count() == before


def test_an_admin_changes_a_team(world, as_):
    response = as_("owner").patch(f"{API}acme/teams/devs/", {"role": "creator"}, format="json")

    assert response.json()["role"] == "creator"
    assert as_("member").post("/api/v1/repositories/", {"namespace": "acme", "name": "new"},
                              format="json").status_code == 201


def test_the_last_admin_team_stays_admin(world, as_):
    response = as_("owner").patch(f"{API}acme/teams/owners/", {"role": "member"}, format="json")

    assert response.status_code == 409
    assert as_("owner").delete(f"{API}acme/teams/owners/").status_code == 409
    assert Team.objects.get(name="owners").role == 3


def test_deleting_a_team_takes_its_grants_away(world, as_):
    assert as_("owner").delete(f"{API}acme/teams/devs/").status_code == 204

    assert as_("member").get("/api/v1/repositories/acme/app/").status_code == 404


def test_an_unknown_team_is_404_for_members(world, as_):
    response = as_("member").get(f"{API}acme/teams/nobody/")

    assert response.status_code == 404
    assert error_of(response)["message"] == "'acme' has no team named 'nobody'."


def test_an_outsider_cannot_learn_team_names(world, as_):
    real = as_("outsider").get(f"{API}acme/teams/devs/")
    made_up = as_("outsider").get(f"{API}acme/teams/nobody/")

    assert real.status_code == made_up.status_code == 403
    assert real.content == made_up.content


def test_an_admin_adds_and_removes_team_members(world, as_):
    added = as_("owner").put(f"{API}acme/teams/devs/members/olivia/")

    assert added.status_code == 200
    assert added.json()["username"] == "olivia"
    members = as_("member").get(f"{API}acme/teams/devs/members/").json()["results"]
    assert [m["username"] for m in members] == ["mona", "olivia"]
    assert as_("outsider").get("/api/v1/repositories/acme/app/").status_code == 200
    assert as_("owner").delete(f"{API}acme/teams/devs/members/olivia/").status_code == 204
    assert as_("outsider").get("/api/v1/repositories/acme/app/").status_code == 404


def test_adding_a_member_twice_changes_nothing(world, as_):
    as_("owner").put(f"{API}acme/teams/devs/members/mona/")

    assert TeamMember.objects.filter(team=world.devs).count() == 1


def test_unknown_members_are_404(world, as_):
    assert error_of(as_("owner").put(f"{API}acme/teams/devs/members/nobody/"))["message"] == (
        "There is no user named 'nobody'.")
    assert error_of(as_("owner").delete(f"{API}acme/teams/devs/members/olivia/"))["message"] == (
        "'olivia' is not a member of team 'devs'.")


def test_the_last_admin_cannot_leave(world, as_):
    response = as_("owner").delete(f"{API}acme/teams/owners/members/alice/")

    assert response.status_code == 409
    assert error_of(response)["message"] == "That would leave the organization without an admin."


def test_members_see_everyone_with_their_teams(world, as_):
    members = as_("member").get(f"{API}acme/members/").json()

    assert members["results"] == [
        {"username": "alice", "teams": ["owners"], "role": "admin"},
        {"username": "cora", "teams": ["builders"], "role": "creator"},
        {"username": "mona", "teams": ["devs"], "role": "member"},
    ]


# --- Default permissions ---------------------------------------------------------------------------------

def test_default_permissions_apply_to_new_repositories(world, as_):
    make_robot("acme", "deployer")
    client = as_("owner")
    assert client.put(f"{API}acme/default-permissions/users/rita/", {"role": "admin"}, format="json").json() == {
        "kind": "user", "name": "rita", "role": "admin"}
    assert client.put(f"{API}acme/default-permissions/robots/deployer/", {"role": "read"},
                      format="json").status_code == 200

    listed = client.get(f"{API}acme/default-permissions/").json()["results"]
    client.post("/api/v1/repositories/", {"namespace": "acme", "name": "new"}, format="json")

    assert listed == [{"kind": "user", "name": "rita", "role": "admin"},
                      {"kind": "team", "name": "builders", "role": "write"},
                      {"kind": "robot", "name": "acme+deployer", "role": "read"}]
    new = Repository.objects.get(full_name="acme/new")
    assert RepositoryPermission.objects.get(repository=new, user=world.users["reader"]).role == 3
    assert RepositoryPermission.objects.filter(repository=new, robot__name="deployer").exists()


def test_removing_a_default_permission(world, as_):
    assert as_("owner").delete(f"{API}acme/default-permissions/teams/builders/").status_code == 204

    assert not DefaultPermission.objects.exists()
    response = as_("owner").delete(f"{API}acme/default-permissions/teams/builders/")
    assert response.status_code == 404
    assert error_of(response)["message"] == "'builders' has no default permission in acme."


@pytest.mark.parametrize(("url", "body", "status"), [
    ("users/rita/", {"role": "owner"}, 400),
    ("users/nobody/", {"role": "read"}, 404),
    ("teams/nobody/", {"role": "read"}, 404),
    ("everyone/all/", {"role": "read"}, 404),
])
def test_bad_default_permissions_change_nothing(world, as_, url, body, status):
    response = as_("owner").put(f"{API}acme/default-permissions/{url}", body, format="json")

    assert response.status_code == status
    error_of(response)
    assert DefaultPermission.objects.count() == 1


def test_a_token_without_org_admin_cannot_administer_the_organization(world, as_):
    response = as_("token").put(f"{API}acme/default-permissions/users/rita/", {"role": "read"}, format="json")

    assert response.status_code == 403
    assert "lacks the org:admin scope" in error_of(response)["message"]
