"""Repositories through the API: create, list, read, change, delete, permissions, and the enumeration rule."""

from __future__ import annotations

import pytest

from portal.audit.models import LogEntry
from portal.repositories.models import Repository, RepositoryPermission, Visibility
from tests.api.conftest import as_user, error_of, rolled_back
from tests.factories import make_repository

API = "/api/v1/repositories/"


def test_a_user_creates_a_repository_in_their_own_namespace(alice):
    response = as_user(alice).post(API, {"namespace": "alice", "name": "app", "visibility": "public",
                                         "description": "The app."}, format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {"namespace": "alice", "name": "app", "full_name": "alice/app",
                               "visibility": "public", "description": "The app.", "role": "admin",
                               "created_at": response.json()["created_at"]}
    assert Repository.objects.get(full_name="alice/app").is_public
    assert LogEntry.objects.filter(kind="repo_create", actor="alice", target="alice/app").exists()


def test_a_new_repository_is_private_unless_asked(alice):
    response = as_user(alice).post(API, {"namespace": "alice", "name": "app"}, format="json")

    assert response.json()["visibility"] == "private"


def test_a_name_with_slashes_is_reached_by_its_whole_path(alice):
    client = as_user(alice)
    client.post(API, {"namespace": "alice", "name": "tools/builder"}, format="json")

    assert client.get(f"{API}alice/tools/builder/").json()["full_name"] == "alice/tools/builder"
    assert client.patch(f"{API}alice/tools/builder/", {"visibility": "public"}, format="json").status_code == 200
    assert client.get(f"{API}alice/tools/builder/permissions/").status_code == 200
    assert client.get(f"{API}alice/tools/builder/logs/").json()["count"] == 2
    assert client.delete(f"{API}alice/tools/builder/").status_code == 204
    assert not Repository.objects.exists()


def test_a_creator_in_an_organization_administers_what_they_create_and_defaults_apply(world, as_):
    response = as_("creator").post(API, {"namespace": "acme", "name": "new"}, format="json")

    assert response.status_code == 201
    assert response.json()["role"] == "admin"
    grants = as_("creator").get(f"{API}acme/new/permissions/").json()["results"]
    assert {"kind": "user", "name": "cora", "role": "admin"} in grants
    assert {"kind": "team", "name": "builders", "role": "write"} in grants


def test_creating_in_an_unknown_namespace_is_404(alice):
    response = as_user(alice).post(API, {"namespace": "nobody", "name": "app"}, format="json")

    assert response.status_code == 404
    assert error_of(response)["message"] == "There is no user or organization named 'nobody'."


def test_creating_where_the_caller_may_not_says_why(world, as_):
    response = as_("member").post(API, {"namespace": "acme", "name": "new"}, format="json")

    assert response.status_code == 403
    assert "creator or admin role" in error_of(response)["message"]
    assert not Repository.objects.filter(full_name="acme/new").exists()


def test_a_token_without_repo_create_is_told_which_scope_it_lacks(alice):
    response = as_user(alice, frozenset({"repo:admin"})).post(API, {"namespace": "alice", "name": "app"},
                                                               format="json")

    assert response.status_code == 403
    assert "lacks the repo:create scope" in error_of(response)["message"]


def test_a_duplicate_is_409_and_changes_nothing(alice):
    make_repository("alice/app", Visibility.PUBLIC)

    response = as_user(alice).post(API, {"namespace": "alice", "name": "app", "visibility": "private"},
                                   format="json")

    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "The repository 'alice/app' already exists.",
                                  "field": "name"}
    assert Repository.objects.get().is_public


@pytest.mark.parametrize(("body", "field"), [
    ({"namespace": "alice", "name": "App"}, "name"),
    ({"namespace": "alice", "name": "a//b"}, "name"),
    ({"namespace": "alice", "name": "-x"}, "name"),
    ({"namespace": "alice", "name": "x" * 300}, "name"),
    ({"namespace": "alice", "name": ""}, "name"),
    ({"namespace": "alice"}, "name"),
    ({"namespace": "alice", "name": "app", "visibility": "secret"}, "visibility"),
    ({"namespace": "alice", "name": "app", "description": 5 * ["x"]}, "description"),
])
def test_bad_input_is_400_with_the_field_and_creates_nothing(alice, body, field):
    response = as_user(alice).post(API, body, format="json")

    assert response.status_code == 400, response.content
    assert error_of(response)["field"] == field
    assert not Repository.objects.exists()


def test_a_body_that_is_not_json_is_refused_plainly(alice):
    response = as_user(alice).post(API, "namespace=alice&name=app", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_the_list_holds_only_what_the_caller_may_read(world, as_):
    def names(persona, query=""):
        return [r["full_name"] for r in as_(persona).get(f"{API}{query}").json()["results"]]

    assert names("anonymous") == ["acme/site"]
    assert names("reader") == ["acme/app", "acme/site"]
    assert names("owner", "?namespace=acme") == ["acme/app", "acme/site", "acme/tools/builder"]
    assert names("owner", "?namespace=nobody") == []


def test_lists_are_paginated(alice):
    for index in range(5):
        make_repository(f"alice/app{index}")
    client = as_user(alice)

    first = client.get(f"{API}?per_page=2").json()
    last = client.get(f"{API}?per_page=2&page=3").json()

    assert first["count"] == 5
    assert [r["name"] for r in first["results"]] == ["app0", "app1"]
    assert first["next"].endswith("?page=2&per_page=2")
    assert [r["name"] for r in last["results"]] == ["app4"]
    assert last["next"] is None
    response = client.get(f"{API}?page=9")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_reader_sees_the_repository_and_its_role(world, as_):
    response = as_("reader").get(f"{API}acme/app/")

    assert response.json()["role"] == "read"
    assert as_("anonymous").get(f"{API}acme/site/").json()["role"] == "read"


def test_an_admin_changes_visibility_and_description(world, as_):
    response = as_("repo_admin").patch(f"{API}acme/app/", {"visibility": "public", "description": "Hi"},
                                       format="json")

    assert response.status_code == 200
    world.app.refresh_from_db()
    assert (world.app.visibility, world.app.description) == ("public", "Hi")
    assert LogEntry.objects.filter(kind="repo_visibility", actor="adam", repository=world.app).exists()


def test_a_bad_visibility_changes_nothing(world, as_):
    response = as_("repo_admin").patch(f"{API}acme/app/", {"visibility": "open", "description": "Hi"},
                                       format="json")

    assert response.status_code == 400
    assert error_of(response)["message"] == "visibility: Visibility is either public or private."
    world.app.refresh_from_db()
    assert (world.app.visibility, world.app.description) == ("private", "")


def test_a_writer_is_told_that_changing_settings_needs_admin(world, as_):
    response = as_("writer").patch(f"{API}acme/app/", {"visibility": "public"}, format="json")

    assert response.status_code == 403
    assert error_of(response)["message"] == ("You may not change this repository: that needs the admin role "
                                             "on 'acme/app' and you have write.")


def test_a_token_with_too_few_scopes_is_told_which_scope_it_lacks(world, as_):
    response = as_("token").delete(f"{API}acme/app/")

    assert response.status_code == 403
    assert "lacks the repo:admin scope" in error_of(response)["message"]
    assert Repository.objects.filter(pk=world.app.pk).exists()


def test_anonymous_changes_to_a_public_repository_ask_for_credentials(world, as_):
    response = as_("anonymous").patch(f"{API}acme/site/", {"visibility": "private"}, format="json")

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_deleting_a_repository_removes_it(world, as_):
    assert as_("owner").delete(f"{API}acme/app/").status_code == 204

    assert not Repository.objects.filter(full_name="acme/app").exists()
    assert LogEntry.objects.filter(kind="repo_delete", target="acme/app").exists()


# --- Permissions -----------------------------------------------------------------------------------------------

def test_an_admin_lists_grants(world, as_):
    grants = as_("repo_admin").get(f"{API}acme/app/permissions/").json()

    assert grants["count"] == 5
    assert grants["results"][0] == {"kind": "user", "name": "adam", "role": "admin"}
    assert {"kind": "robot", "name": "acme+ci", "role": "read"} in grants["results"]
    assert {"kind": "team", "name": "devs", "role": "read"} in grants["results"]


@pytest.mark.parametrize(("kind", "who", "shown"), [
    ("users", "olivia", {"kind": "user", "name": "olivia", "role": "write"}),
    ("teams", "builders", {"kind": "team", "name": "builders", "role": "write"}),
    ("robots", "ci", {"kind": "robot", "name": "acme+ci", "role": "write"}),
    ("robots", "acme+ci", {"kind": "robot", "name": "acme+ci", "role": "write"}),
])
def test_an_admin_grants_users_teams_and_robots(world, as_, kind, who, shown):
    url = f"{API}acme/app/permissions/{kind}/{who}/"
    response = as_("repo_admin").put(url, {"role": "write"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == shown
    assert as_("repo_admin").get(url).json() == shown


def test_changing_a_grant_replaces_the_role(world, as_):
    as_("owner").put(f"{API}acme/app/permissions/users/rita/", {"role": "admin"}, format="json")

    assert RepositoryPermission.objects.get(repository=world.app, user=world.users["reader"]).role == 3
    assert LogEntry.objects.filter(kind="permission_set", target="user:rita", detail__role="admin").exists()


def test_revoking_a_grant_takes_the_access_away(world, as_):
    assert as_("owner").delete(f"{API}acme/app/permissions/users/rita/").status_code == 204

    assert as_("reader").get(f"{API}acme/app/").status_code == 404


@pytest.mark.parametrize(("url", "body", "status", "message"), [
    ("users/olivia/", {"role": "owner"}, 400, "role: Unknown role: use one of read, write, admin."),
    ("users/olivia/", {}, 400, "role: This field is required."),
    ("users/nobody/", {"role": "read"}, 404, "There is no user named 'nobody'."),
    ("teams/nobody/", {"role": "read"}, 404, "'acme' has no team named 'nobody'."),
    ("robots/other+ci/", {"role": "read"}, 404, "'acme' has no robot named 'other+ci'."),
    ("groups/devs/", {"role": "read"}, 404, "Permissions are granted to users, teams or robots."),
])
def test_bad_grants_are_refused_and_change_nothing(world, as_, url, body, status, message):
    before = RepositoryPermission.objects.count()

    response = as_("owner").put(f"{API}acme/app/permissions/{url}", body, format="json")

    assert response.status_code == status
    assert error_of(response)["message"] == message
    assert RepositoryPermission.objects.count() == before


def test_revoking_what_was_never_granted_is_404(world, as_):
    response = as_("owner").delete(f"{API}acme/app/permissions/users/olivia/")

    assert response.status_code == 404
    assert error_of(response)["message"] == "'olivia' has no permission on acme/app."


# --- Enumeration ---------------------------------------------------------------------------------------------

ROUTES = [("get", ""), ("patch", ""), ("delete", ""), ("get", "permissions/"), ("get", "logs/"),
          ("get", "permissions/users/rita/"), ("put", "permissions/users/rita/"),
          ("delete", "permissions/users/rita/")]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_a_private_repository_answers_exactly_as_a_missing_one(world, as_, method, suffix):
    url = f"{API}acme/tools/builder/{suffix}"
    for persona in ("anonymous", "outsider", "member", "creator", "robot"):
        client = as_(persona)
        with rolled_back():
            private = getattr(client, method)(url, {"role": "read"}, format="json")
            Repository.objects.filter(pk=world.builder.pk).delete()
            missing = getattr(client, method)(url, {"role": "read"}, format="json")

        assert private.status_code == missing.status_code == 404, persona
        assert private.content == missing.content, persona
        assert dict(private.headers) == dict(missing.headers), persona
        assert error_of(private)["message"] == ("The repository 'acme/tools/builder' does not exist, "
                                                "or you may not see it.")
    assert Repository.objects.filter(pk=world.builder.pk).exists()


def test_a_private_repository_is_as_absent_from_lists_as_a_missing_one(world, as_):
    listed = as_("outsider").get(f"{API}?namespace=acme").json()

    assert [r["full_name"] for r in listed["results"]] == ["acme/site"]
