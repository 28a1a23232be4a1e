"""The three ways in: Bearer API tokens, Basic credentials, and the browser session with CSRF."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from portal.accounts.models import Organization
from tests.api.conftest import error_of
from tests.factories import PASSWORD, make_api_token, make_organization, make_robot

ME = "/api/v1/user/"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def get_me(authorization: str):  # type: ignore[no-untyped-def]
    return APIClient().get(ME, HTTP_AUTHORIZATION=authorization)


def test_a_bearer_api_token_speaks_for_its_user_within_its_scopes(alice):
    secret = make_api_token(alice, "repo:read")

    response = get_me(f"Bearer {secret}")

    assert response.status_code == 200
    assert (response.json()["username"], response.json()["scopes"]) == ("alice", ["repo:read"])


@pytest.mark.parametrize("secret", ["wharf_pat_forged", "not-a-token", ""])
def test_an_unknown_bearer_token_is_401(alice, secret):
    response = get_me(f"Bearer {secret}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="wharf-api"'
    assert error_of(response)["message"] == "The API token is invalid, expired or revoked."


def test_an_expired_token_is_401(alice):
    secret = make_api_token(alice, "repo:read", expires_at=timezone.now() - timedelta(seconds=1))

    assert get_me(f"Bearer {secret}").status_code == 401


def test_a_disabled_users_token_is_401(alice):
    secret = make_api_token(alice, "repo:read")
    alice.is_active = False
    alice.save()

    assert get_me(f"Bearer {secret}").status_code == 401


def test_basic_accepts_a_password(alice):
    response = get_me(basic("alice", PASSWORD))

    assert (response.status_code, response.json()["kind"]) == (200, "user")


def test_basic_accepts_a_robot_token(alice):
    make_organization("acme", alice)
    _, token = make_robot("acme", "ci")

    assert get_me(basic("acme+ci", token)).json()["username"] == "acme+ci"


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("$token", 200), ("bob", 401)])
def test_basic_accepts_an_api_token_under_its_owners_name(alice, username, status):
    secret = make_api_token(alice, "repo:read")

    response = get_me(basic(username, secret))

    assert response.status_code == status
    if status == 200:
        assert response.json()["kind"] == "token"


@pytest.mark.parametrize("authorization", ["Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode()])
def test_malformed_basic_credentials_are_401(authorization):
    response = get_me(authorization)

    assert response.status_code == 401
    assert error_of(response)["message"] == "Malformed Basic credentials."


def test_a_wrong_password_is_401_with_a_challenge(alice):
    response = get_me(basic("alice", "wrong"))

    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate")
    assert error_of(response)["message"] == "Incorrect username or password."


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_repeated_failures_are_throttled_whether_or_not_the_account_exists(alice, settings, username):
    settings.WHARF_FAILED_LOGINS_PER_ACCOUNT = 2
    for _ in range(2):
        assert get_me(basic(username, "wrong")).status_code == 401

    response = get_me(basic(username, PASSWORD))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert error_of(response) == {"code": "too_many_requests",
                                  "message": f"Too many failed attempts; try again in {response['Retry-After']} "
                                             "seconds."}



def test_wrong_bearer_tokens_are_throttled_per_client_and_the_right_one_still_works(alice, settings):
    settings.WHARF_FAILED_LOGINS_PER_CLIENT = 3
    good = make_api_token(alice, "repo:read")
    for _ in range(3):
        assert get_me("Bearer wharf_pat_" + get_random_string(43)).status_code == 401

    response = get_me("Bearer wharf_pat_" + get_random_string(43))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert get_me(f"Bearer {good}").status_code == 200

# --- The browser session -------------------------------------------------------------------------------------

@pytest.fixture
def browser(alice):  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def test_a_session_reads_without_a_csrf_token(browser):
    assert browser.get(ME).json()["kind"] == "user"


def test_a_session_change_without_the_csrf_token_is_refused(browser):
    response = browser.post("/api/v1/organizations/", {"name": "initech"}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]
    assert not Organization.objects.exists()


def test_a_session_change_with_the_csrf_token_is_accepted(browser):
    secret = get_random_string(32)
    browser.cookies[settings.CSRF_COOKIE_NAME] = secret

    response = browser.post("/api/v1/organizations/", {"name": "initech"}, content_type="application/json",
                            HTTP_X_CSRFTOKEN=secret)

    assert response.status_code == 201


def test_an_api_token_needs_no_csrf_token(alice):
    secret = make_api_token(alice, "org:admin")

    response = Client(enforce_csrf_checks=True).post("/api/v1/organizations/", {"name": "initech"},
                                                     content_type="application/json",
                                                     HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 201
