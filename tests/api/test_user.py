"""The caller's identity and personal API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal.accounts.models import ApiToken
from tests.api.conftest import as_user, error_of
from tests.factories import make_api_token

API = "/api/v1/user/"


def test_a_person_sees_who_they_are(world, as_):
    assert as_("owner").get(API).json() == {"username": "alice", "email": "alice@example.com", "kind": "user",
                                            "organizations": ["acme"], "scopes": None}


def test_a_token_says_it_is_a_token_and_which_scopes_it_holds(world, as_):
    me = as_("token").get(API).json()

    assert (me["username"], me["kind"], me["scopes"]) == ("alice", "token", ["repo:read"])


def test_a_robot_gets_its_own_identity(world, as_):
    assert as_("robot").get(API).json() == {"username": "acme+ci", "email": None, "kind": "robot",
                                            "organizations": [], "scopes": None}


def test_a_new_token_is_shown_once_and_then_only_by_its_prefix(alice):
    expires = timezone.now() + timedelta(days=30)
    client = as_user(alice)

    created = client.post(f"{API}tokens/", {"name": "ci", "scopes": ["repo:read", "repo:write"],
                                            "expires_at": expires.isoformat()}, format="json")

    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("wharf_pat_")
    listed = client.get(f"{API}tokens/").json()["results"]
    assert listed == [{key: value for key, value in created.json().items() if key != "token"}]
    assert listed[0]["prefix"] == secret[:14]
    assert listed[0]["scopes"] == ["repo:read", "repo:write"]
    assert listed[0]["last_used_at"] is None
    assert secret not in str(listed)
    assert APIClient().get(API, HTTP_AUTHORIZATION=f"Bearer {secret}").json()["kind"] == "token"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"name": "x", "scopes": ["repo:everything"]}, "scopes", "Unknown scope repo:everything; use any of "),
    ({"name": "x", "scopes": []}, "scopes", "Choose at least one scope."),
    ({"name": "x", "scopes": "repo:read"}, "scopes", 'scopes: Expected a list of items but got type "str".'),
    ({"name": "", "scopes": ["repo:read"]}, "name", "name: This field may not be blank."),
    ({"name": "x", "scopes": ["repo:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at",
     "The expiry must be in the future."),
    ({"name": "x", "scopes": ["repo:read"], "expires_at": "next week"}, "expires_at", "expires_at: Datetime has"),
])
def test_bad_tokens_are_refused_and_none_is_made(alice, body, field, message):
    response = as_user(alice).post(f"{API}tokens/", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert error_of(response)["message"].startswith(message)
    assert not ApiToken.objects.exists()


def test_a_token_with_user_admin_may_manage_tokens(alice):
    assert as_user(alice, frozenset({"user:admin"})).get(f"{API}tokens/").status_code == 200


def test_a_token_without_user_admin_is_told_which_scope_it_lacks(world, as_):
    response = as_("token").post(f"{API}tokens/", {"name": "more", "scopes": ["repo:admin"]}, format="json")

    assert response.status_code == 403
    assert error_of(response)["message"] == ("This API token lacks the user:admin scope, which is needed to "
                                             "manage API tokens.")


def test_robots_have_no_tokens(world, as_):
    response = as_("robot").get(f"{API}tokens/")

    assert response.status_code == 403
    assert error_of(response)["message"] == "Robot accounts cannot manage API tokens."


def test_a_revoked_token_stops_working(alice):
    secret = make_api_token(alice, "repo:read")
    token = ApiToken.objects.get()

    assert as_user(alice).delete(f"{API}tokens/{token.pk}/").status_code == 204
    assert APIClient().get(API, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_someone_elses_token_is_as_missing_as_no_token(alice, bob):
    make_api_token(alice, "repo:read")
    url = f"{API}tokens/{ApiToken.objects.get().pk}/"

    theirs = as_user(bob).delete(url)
    ApiToken.objects.all().delete()
    missing = as_user(bob).delete(url)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content


def test_only_the_owners_tokens_are_listed(alice, bob):
    make_api_token(alice, "repo:read")

    assert as_user(bob).get(f"{API}tokens/").json()["count"] == 0
