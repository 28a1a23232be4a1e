"""User settings: e-mail, GitHub connection, API tokens, the user's robot accounts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from social_django.models import UserSocialAuth

from portal.accounts.credentials import digest
from portal.accounts.models import ApiToken, Robot, User
from portal.audit.models import LogEntry
from tests.factories import make_api_token, make_robot
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]


@pytest.mark.parametrize("url", ["/settings/", "/settings/password/", "/settings/robots/"])
def test_settings_pages_send_anonymous_visitors_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302 and response["Location"] == f"/login/?next={url}"


def test_settings_saves_the_email_and_refuses_a_bad_one(login_as: Login, alice: User) -> None:
    client = login_as(alice)

    bad = client.post("/settings/", {"action": "email", "email": "not an address"})
    good = client.post("/settings/", {"action": "email", "email": "alice@new.example"}, follow=True)

    assert bad.status_code == 400 and bad.context["email_form"].errors["email"]
    assert good.status_code == 200 and "Your e-mail address has been saved." in messages_of(good)
    alice.refresh_from_db()
    assert alice.email == "alice@new.example"


def test_an_unknown_action_is_a_bad_request(login_as: Login, alice: User) -> None:
    assert login_as(alice).post("/settings/", {"action": "nonsense"}).status_code == 400


# --- API tokens -------------------------------------------------------------------------------------------------

def test_a_new_api_token_is_shown_once_and_only_its_digest_kept(login_as: Login, alice: User) -> None:
    client = login_as(alice)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()

    created = client.post("/settings/", {"action": "token_create", "name": "laptop",
                                         "scopes": ["repo:read", "repo:write"], "expires_on": tomorrow.isoformat()})
    secret = created.context["secret"]
    listing = client.get("/settings/")

    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    assert secret.startswith("wharf_pat_") and secret in text(created)
    token = ApiToken.objects.get(user=alice)
    assert (token.name, token.scopes, token.token_digest) == ("laptop", ["repo:read", "repo:write"], digest(secret))
    assert token.expires_at == datetime.combine(tomorrow + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert secret not in text(listing) and token.prefix in text(listing)
    assert LogEntry.objects.filter(kind="token_create", actor="alice", target="laptop").exists()


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "ci", "scopes": []}, "scopes", "Choose at least one scope."),
    ({"name": "ci", "scopes": ["repo:everything"]}, "scopes", "Select a valid choice."),
    ({"name": "", "scopes": ["repo:read"]}, "name", "This field is required."),
    ({"name": "ci", "scopes": ["repo:read"], "expires_on": "2001-01-01"}, "expires_on", "must be in the future"),
])
def test_token_form_errors_show_next_to_their_field(login_as: Login, alice: User, data: dict[str, object],
                                                    field: str, message: str) -> None:
    response = login_as(alice).post("/settings/", {"action": "token_create", **data})

    assert response.status_code == 400
    assert message in " ".join(response.context["token_form"].errors[field])
    assert not ApiToken.objects.exists()


def test_revoking_a_token_deletes_it_and_nobody_else_can(login_as: Login, alice: User, bob: User) -> None:
    make_api_token(alice, "repo:read", name="old")
    token = ApiToken.objects.get(user=alice)

    as_bob = login_as(bob).post("/settings/", {"action": "token_revoke", "token": token.pk})
    as_alice = login_as(alice).post("/settings/", {"action": "token_revoke", "token": token.pk}, follow=True)

    assert as_bob.status_code == 404
    assert "Revoked the token 'old'." in messages_of(as_alice)
    assert not ApiToken.objects.exists()
    assert LogEntry.objects.filter(kind="token_revoke", actor="alice").exists()


def test_the_token_list_shows_scopes_expiry_and_last_use(login_as: Login, alice: User) -> None:
    make_api_token(alice, "repo:admin", name="old", expires_at=datetime(2001, 1, 1, tzinfo=UTC))
    ApiToken.objects.update(last_used_at=datetime(2000, 12, 31, 10, 0, tzinfo=UTC))

    page = text(login_as(alice).get("/settings/"))

    assert "repo:admin" in page and "expired" in page and "2001-01-01 00:00" in page and "2000-12-31 10:00" in page


# --- GitHub --------------------------------------------------------------------------------------------------

def test_github_connect_is_offered_when_configured(login_as: Login, alice: User, settings: object) -> None:
    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"  # type: ignore[attr-defined]

    page = text(login_as(alice).get("/settings/"))

    assert "Connect GitHub" in page and 'action="/login/github/"' in page


def test_github_disconnect_removes_the_connection_and_audits(login_as: Login, alice: User) -> None:
    UserSocialAuth.objects.create(user=alice, provider="github", uid="42", extra_data={"login": "alice-gh"})
    client = login_as(alice)
    assert "alice-gh" in text(client.get("/settings/"))

    response = client.post("/settings/github/disconnect/", follow=True)

    assert "Your GitHub account is no longer connected." in messages_of(response)
    assert not UserSocialAuth.objects.filter(user=alice).exists()
    assert LogEntry.objects.filter(kind="github_disconnect", actor="alice").exists()


def test_github_disconnect_refuses_to_lock_out_a_user_without_a_password(login_as: Login, alice: User) -> None:
    alice.set_unusable_password()
    alice.save()
    UserSocialAuth.objects.create(user=alice, provider="github", uid="42")

    response = login_as(alice).post("/settings/github/disconnect/", follow=True)

    assert "Set a password first" in " ".join(messages_of(response))
    assert UserSocialAuth.objects.filter(user=alice).exists()


# --- The user's robots ------------------------------------------------------------------------------------------

def test_user_robot_token_is_shown_once_and_regenerating_replaces_it(login_as: Login, alice: User) -> None:
    client = login_as(alice)

    created = client.post("/settings/robots/", {"action": "robot_create", "name": "ci", "description": "CI"})
    first = created.context["secret"]
    listing = text(client.get("/settings/robots/"))
    regenerated = client.post("/settings/robots/", {"action": "robot_regenerate", "robot": "ci", "confirm": "1"})
    second = regenerated.context["secret"]

    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    assert "alice+ci" in text(created) and first in text(created)
    assert "alice+ci" in listing and first not in listing
    assert second != first and Robot.objects.get(name="ci").token_digest == digest(second)
    assert [e.kind for e in LogEntry.objects.filter(target="alice+ci").order_by("id")] == [
        "robot_create", "robot_regenerate"]


def test_user_robot_names_are_checked(login_as: Login, alice: User) -> None:
    make_robot("alice", "ci")
    client = login_as(alice)

    bad = client.post("/settings/robots/", {"action": "robot_create", "name": "CI-bot"})
    taken = client.post("/settings/robots/", {"action": "robot_create", "name": "ci"})

    assert bad.status_code == 400 and "Invalid robot name" in bad.context["robot_form"].errors["name"][0]
    assert taken.status_code == 400 and taken.context["robot_form"].errors["name"] == ["'alice+ci' already exists."]


def test_deleting_a_user_robot(login_as: Login, alice: User, bob: User) -> None:
    make_robot("alice", "ci")

    as_bob = login_as(bob).post("/settings/robots/", {"action": "robot_delete", "robot": "ci", "confirm": "1"})
    as_alice = login_as(alice).post("/settings/robots/", {"action": "robot_delete", "robot": "ci", "confirm": "1"},
                                    follow=True)

    assert as_bob.status_code == 404   # bob's page is about bob's namespace: he has no robot "ci"
    assert "Deleted robot alice+ci; its token no longer works." in messages_of(as_alice)
    assert not Robot.objects.exists()


def test_github_disconnect_without_a_connection_changes_nothing(login_as: Login, alice: User) -> None:
    response = login_as(alice).post("/settings/github/disconnect/", follow=True)

    assert "No GitHub account is connected." in messages_of(response)
    assert not LogEntry.objects.filter(kind="github_disconnect").exists()
