"""The data rules through the API: team and robot names in the user-name grammar, adding a member twice, and
the repository description limit."""

from __future__ import annotations

from portal.accounts.models import Robot, Team, TeamMember
from portal.audit.models import LogEntry
from portal.repositories.models import Repository
from tests.api.conftest import as_user, error_of
from tests.factories import make_repository

ORGS = "/api/v1/organizations/"
REPOS = "/api/v1/repositories/"
OVER_LIMIT = "é" * (32 * 1024 + 1)   # 64 KiB and 2 bytes of UTF-8


def test_team_and_robot_names_follow_the_user_name_grammar(world, as_):
    team = as_("owner").post(f"{ORGS}acme/teams/", {"name": "release-eng"}, format="json")
    robot = as_("owner").post("/api/v1/namespaces/acme/robots/", {"name": "deploy.bot-2"}, format="json")
    member = as_("owner").put(f"{ORGS}acme/teams/release-eng/members/mona/")
    teams, robots = Team.objects.count(), Robot.objects.count()
    refused = {name: (as_("owner").post(f"{ORGS}acme/teams/", {"name": name}, format="json"),
                      as_("owner").post("/api/v1/namespaces/acme/robots/", {"name": name}, format="json"))
               for name in ["-eng", "eng-", "a--", "a+b", "a/b", "Eng"]}

    assert team.status_code == 201 and team.json()["name"] == "release-eng"
    assert robot.status_code == 201 and robot.json()["name"] == "acme+deploy.bot-2"
    assert member.status_code == 200
    for name, (bad_team, bad_robot) in refused.items():
        assert (bad_team.status_code, bad_robot.status_code) == (400, 400), name
        assert error_of(bad_team)["message"].startswith("Invalid team name")
        assert error_of(bad_robot)["message"].startswith("Invalid robot name")
    assert (Team.objects.count(), Robot.objects.count()) == (teams, robots)


def test_adding_a_member_again_is_a_409_that_changes_and_logs_nothing(world, as_):
    before = LogEntry.objects.filter(kind="team_member_add").count()

    response = as_("owner").put(f"{ORGS}acme/teams/devs/members/mona/")

    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "'mona' is already a member of team 'devs'.",
                                  "field": "username"}
    assert TeamMember.objects.filter(team=world.devs).count() == 1
    assert LogEntry.objects.filter(kind="team_member_add").count() == before


def test_a_description_over_64_kib_is_a_400_on_create_and_update(alice):
    make_repository("alice/app")
    client = as_user(alice)

    created = client.post(REPOS, {"namespace": "alice", "name": "big", "description": OVER_LIMIT}, format="json")
    updated = client.patch(f"{REPOS}alice/app/", {"description": OVER_LIMIT, "visibility": "public"},
                           format="json")
    at_limit = client.patch(f"{REPOS}alice/app/", {"description": "x" * 64 * 1024}, format="json")

    assert created.status_code == 400 and updated.status_code == 400
    assert error_of(created) == {"code": "invalid", "message": "The description is 64.0 KiB; the limit is 64 KiB.",
                                 "field": "description"}
    assert error_of(updated)["field"] == "description"
    assert not Repository.objects.filter(full_name="alice/big").exists()
    assert at_limit.status_code == 200
    repository = Repository.objects.get(full_name="alice/app")
    assert (len(repository.description), repository.visibility) == (64 * 1024, "private")
