"""Robot accounts through the API; their tokens are checked through real Basic authentication."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from portal.accounts.models import Robot
from portal.audit.models import LogEntry
from tests.api.conftest import as_user, error_of
from tests.factories import grant, make_repository, make_robot

API = "/api/v1/namespaces/"


def basic(username: str, secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def whoami(username: str, secret: str) -> int:
    return APIClient().get("/api/v1/user/", **basic(username, secret)).status_code


def test_an_org_admin_creates_a_robot_and_sees_its_token_once(world, as_):
    response = as_("owner").post(f"{API}acme/robots/", {"name": "deploy", "description": "CD"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "acme+deploy"
    assert body["description"] == "CD"
    assert body["token"].startswith("wharf_robot_")
    assert whoami("acme+deploy", body["token"]) == 200
    listed = as_("owner").get(f"{API}acme/robots/").json()["results"]
    assert [r["name"] for r in listed] == ["acme+ci", "acme+deploy"]
    assert all("token" not in r for r in listed)
    assert LogEntry.objects.filter(kind="robot_create", target="acme+deploy").exists()


def test_a_robot_shows_its_repository_permissions(world, as_):
    robot = as_("owner").get(f"{API}acme/robots/ci/").json()

    assert robot["permissions"] == [{"repository": "acme/app", "role": "read"}]
    assert as_("owner").get(f"{API}acme/robots/acme+ci/").json()["name"] == "acme+ci"
    assert "token" not in robot


def test_regenerating_ends_the_old_token_at_once(world, as_):
    response = as_("owner").post(f"{API}acme/robots/ci/regenerate/")

    assert response.status_code == 200
    assert response.json()["name"] == "acme+ci"
    assert whoami("acme+ci", world.robot_token) == 401
    assert whoami("acme+ci", response.json()["token"]) == 200


def test_deleting_a_robot_revokes_it(world, as_):
    assert as_("owner").delete(f"{API}acme/robots/ci/").status_code == 204

    assert not Robot.objects.exists()
    assert whoami("acme+ci", world.robot_token) == 401


@pytest.mark.parametrize(("name", "status", "message"), [
    ("ci", 409, "'acme+ci' already exists."),
    ("CI", 400, "Invalid robot name"),
    ("ci+x", 400, "Invalid robot name"),
    ("", 400, "name: This field may not be blank."),
])
def test_bad_robot_names_are_refused_and_change_nothing(world, as_, name, status, message):
    response = as_("owner").post(f"{API}acme/robots/", {"name": name}, format="json")

    assert response.status_code == status
    assert error_of(response)["message"].startswith(message)
    assert Robot.objects.count() == 1


def test_unknown_namespaces_and_robots_are_404(world, as_):
    assert error_of(as_("owner").get(f"{API}nobody/robots/"))["message"] == (
        "There is no user or organization named 'nobody'.")
    assert error_of(as_("owner").get(f"{API}acme/robots/nobody/"))["message"] == "'acme' has no robot named 'nobody'."


def test_a_user_manages_the_robots_of_their_own_namespace(alice, bob):
    robot, _ = make_robot("alice", "bot")
    grant(make_repository("alice/app"), "write", robot=robot)

    assert as_user(alice).get(f"{API}alice/robots/bot/").json()["permissions"] == [
        {"repository": "alice/app", "role": "write"}]
    assert as_user(bob).get(f"{API}alice/robots/").status_code == 403
    assert as_user(alice, frozenset({"user:admin"})).get(f"{API}alice/robots/").status_code == 200


def test_a_token_needs_user_admin_for_its_own_robots(alice):
    response = as_user(alice, frozenset({"org:admin", "repo:admin"})).post(f"{API}alice/robots/", {"name": "x"},
                                                                           format="json")

    assert response.status_code == 403
    assert "lacks the user:admin scope" in error_of(response)["message"]
    assert not Robot.objects.exists()


def test_a_robot_cannot_manage_robots(world, as_):
    response = as_("robot").post(f"{API}acme/robots/", {"name": "child"}, format="json")

    assert response.status_code == 403
    assert error_of(response)["message"] == "Robot accounts cannot create robot accounts in 'acme'."
