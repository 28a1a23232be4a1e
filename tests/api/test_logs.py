"""The audit log through the API: newest first, filtered by kind, paginated, for admins only."""

from __future__ import annotations

from portal import audit
from tests.api.conftest import error_of


def test_an_org_admin_reads_the_organizations_log_newest_first(world, as_):
    client = as_("owner")
    client.post("/api/v1/organizations/acme/teams/", {"name": "qa"}, format="json")
    client.patch("/api/v1/repositories/acme/app/", {"visibility": "public"}, format="json")

    entries = client.get("/api/v1/organizations/acme/logs/").json()["results"]

    assert [e["kind"] for e in entries] == ["repo_visibility", "team_create"]
    assert entries[0] == {"kind": "repo_visibility", "actor": "alice", "actor_kind": "user",
                          "repository": "acme/app", "target": "acme/app", "detail": {"visibility": "public"},
                          "client_ip": "127.0.0.1", "created_at": entries[0]["created_at"]}


def test_the_log_filters_by_kind_and_pages(world, as_):
    for index in range(3):
        audit.record("push", world.principal("writer"), repository=world.app, target=f"acme/app:{index}")
    audit.record("pull", world.principal("reader"), repository=world.app, target="acme/app:0")
    client = as_("repo_admin")

    pushes = client.get("/api/v1/repositories/acme/app/logs/?kind=push&per_page=2").json()
    both = client.get("/api/v1/repositories/acme/app/logs/?kind=push,pull").json()

    assert pushes["count"] == 3
    assert [e["target"] for e in pushes["results"]] == ["acme/app:2", "acme/app:1"]
    assert both["count"] == 4


def test_a_repository_log_holds_only_that_repository(world, as_):
    audit.record("push", world.principal("owner"), repository=world.site, target="acme/site:1")
    audit.record("push", world.principal("owner"), repository=world.app, target="acme/app:1")

    entries = as_("owner").get("/api/v1/repositories/acme/app/logs/").json()["results"]

    assert [e["target"] for e in entries] == ["acme/app:1"]


def test_an_unknown_kind_is_400(world, as_):
    response = as_("owner").get("/api/v1/organizations/acme/logs/?kind=push,explode")

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Unknown log kind explode; use any of login, ")


def test_a_robot_and_a_token_actor_are_named_as_such(world, as_):
    as_("token").get("/api/v1/repositories/acme/app/")
    audit.record("pull", world.principal("robot"), repository=world.app, target="acme/app:1")

    entry = as_("owner").get("/api/v1/repositories/acme/app/logs/").json()["results"][0]

    assert (entry["actor"], entry["actor_kind"]) == ("acme+ci", "robot")
