"""Sign-up, sign-in, sign-out, password change and reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import LogEntry
from portal.web.invitations import create_invitation
from tests.factories import PASSWORD, make_api_token, make_organization, make_robot, make_user
from tests.web.conftest import messages_of, text

pytestmark = pytest.mark.django_db
STRONG = "a long enough passphrase 42"


def signup(client: Client, username: str = "dora", password: str = STRONG, again: str | None = None,
           **extra: str) -> object:
    data = {"username": username, "email": f"{username}@example.com", "password1": password,
            "password2": password if again is None else again, **extra}
    return client.post("/signup/", data)


# --- Sign-up ------------------------------------------------------------------------------------------------

def test_signup_creates_the_user_signs_them_in_and_audits_it(client: Client) -> None:
    response = signup(client)

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="dora")
    assert user.namespace.name == "dora" and user.check_password(STRONG)
    assert client.get("/").context["user"] == user
    assert LogEntry.objects.filter(kind="signup", target="dora").exists()


@pytest.mark.parametrize(("username", "message"), [
    ("admin", "'admin' is reserved"),
    ("Dora", "Use lower-case letters"),
    ("do--ra-", "Use lower-case letters"),
    ("", "This field is required."),
])
def test_signup_refuses_bad_and_reserved_names_next_to_the_field(client: Client, username: str, message: str) -> None:
    response = signup(client, username)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["username"])
    assert not User.objects.filter(username=username).exists()


def test_signup_refuses_a_name_taken_by_a_user_or_an_organization(client: Client, alice: User) -> None:
    make_organization("acme")

    for taken in ("alice", "acme"):
        response = signup(client, taken)
        assert response.status_code == 400
        assert response.context["form"].errors["username"] == [f"The name '{taken}' is taken."]
    assert User.objects.count() == 1


def test_signup_refuses_a_weak_password_and_different_passwords(client: Client) -> None:
    weak = signup(client, password="password")
    differ = signup(client, again="something else entirely")

    assert weak.status_code == 400 and "too common" in " ".join(weak.context["form"].errors["password1"])
    assert differ.context["form"].errors["password2"] == ["The two passwords differ."]
    assert not User.objects.filter(username="dora").exists()


def test_invite_only_signup_refuses_without_an_invitation(client: Client, settings: object) -> None:
    settings.WHARF_SIGNUP = "invite"  # type: ignore[attr-defined]

    page = client.get("/signup/")
    posted = signup(client)

    assert page.status_code == 403 and "Sign-up is by invitation" in text(page)
    assert posted.status_code == 403 and not User.objects.filter(username="dora").exists()


def test_an_invitation_works_once(client: Client, settings: object) -> None:
    settings.WHARF_SIGNUP = "invite"  # type: ignore[attr-defined]
    invitation, secret = create_invitation("dora@example.com")

    page = client.get(f"/signup/?invite={secret}")
    first = signup(client, invite=secret)
    client.post("/logout/")
    second = signup(Client(), "eve", invite=secret)

    assert page.status_code == 200 and 'value="dora@example.com"' in text(page)
    assert first.status_code == 302 and User.objects.filter(username="dora").exists()
    invitation.refresh_from_db()
    assert invitation.used_by is not None and invitation.used_by.username == "dora"
    assert second.status_code == 403 and "has been used or has expired" in text(second)
    assert not User.objects.filter(username="eve").exists()


def test_a_refused_signup_leaves_the_invitation_unused(client: Client, settings: object) -> None:
    settings.WHARF_SIGNUP = "invite"  # type: ignore[attr-defined]
    invitation, secret = create_invitation()

    response = signup(client, "admin", invite=secret)

    assert response.status_code == 400
    invitation.refresh_from_db()
    assert invitation.used_at is None


# --- Sign-in and sign-out -------------------------------------------------------------------------------------

def login(client: Client, username: str, password: str, **extra: str) -> object:
    return client.post("/login/", {"username": username, "password": password, **extra})


def test_login_with_the_password_signs_in_and_audits(client: Client, alice: User) -> None:
    response = login(client, "alice", PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").context["user"] == alice
    entry = LogEntry.objects.get(kind="login")
    assert (entry.actor, entry.target, entry.namespace_id) == ("alice", "alice", alice.namespace.pk)


def test_login_follows_a_local_next_but_not_another_site(client: Client, alice: User) -> None:
    local = login(client, "alice", PASSWORD, next="/settings/")
    client.post("/logout/")
    foreign = login(client, "alice", PASSWORD, next="https://evil.example/")

    assert local["Location"] == "/settings/"
    assert foreign["Location"] == "/"


def test_a_wrong_password_is_refused_and_audited(client: Client, alice: User) -> None:
    response = login(client, "alice", "not her password")

    assert response.status_code == 400
    assert "Incorrect username or password." in text(response)
    assert "_auth_user_id" not in client.session
    assert LogEntry.objects.filter(kind="login_failed", target="alice").exists()


def test_a_robot_can_never_sign_in_to_the_web(client: Client, alice: User) -> None:
    _, token = make_robot("alice", "ci")

    response = login(client, "alice+ci", token)

    assert response.status_code == 400
    assert "Incorrect username or password." in text(response)
    assert "_auth_user_id" not in client.session


def test_an_api_token_is_not_a_web_password(client: Client, alice: User) -> None:
    secret = make_api_token(alice, "repo:read", "user:admin")

    response = login(client, "alice", secret)

    assert response.status_code == 400
    assert "Incorrect username or password." in text(response)
    assert "_auth_user_id" not in client.session
    assert LogEntry.objects.filter(kind="login_failed", target="alice").exists()


def test_failed_logins_are_throttled_with_a_message(client: Client, alice: User, settings: object) -> None:
    settings.WHARF_FAILED_LOGINS_PER_ACCOUNT = 3  # type: ignore[attr-defined]
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 400

    response = login(client, "alice", PASSWORD)   # even the right password waits

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert re.search(r"Too many failed attempts; try again in \d+ seconds", text(response))
    assert "_auth_user_id" not in client.session


def test_login_page_offers_github_only_when_configured(client: Client, settings: object) -> None:
    settings.SOCIAL_AUTH_GITHUB_KEY = ""  # type: ignore[attr-defined]
    assert "Sign in with GitHub" not in text(client.get("/login/"))

    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"  # type: ignore[attr-defined]
    page = text(client.get("/login/"))
    assert "Sign in with GitHub" in page and 'action="/login/github/"' in page


def test_logout_needs_a_post_and_audits(client: Client, alice: User) -> None:
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/", follow=True)

    assert response.context["user"].is_anonymous
    assert "You are signed out." in messages_of(response) or "You are signed out." in text(response)
    assert LogEntry.objects.filter(kind="logout", actor="alice").exists()


# --- Passwords -------------------------------------------------------------------------------------------------

def test_password_change_checks_the_old_one_and_audits(client: Client, alice: User) -> None:
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    wrong = client.post("/settings/password/", {"old_password": "nope", "new_password1": STRONG,
                                                "new_password2": STRONG})
    right = client.post("/settings/password/", {"old_password": PASSWORD, "new_password1": STRONG,
                                                "new_password2": STRONG})

    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]
    assert right.status_code == 302 and right["Location"] == "/settings/"
    alice.refresh_from_db()
    assert alice.check_password(STRONG)
    assert LogEntry.objects.filter(kind="password_change", actor="alice").count() == 1
    assert client.get("/settings/").status_code == 200   # still signed in


def test_password_reset_mails_a_link_that_sets_a_new_password(client: Client, settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    make_user("dora")

    sent = client.post("/password-reset/", {"email": "dora@example.com"})
    link = re.search(re.escape(settings.WHARF_SITE_URL) + r"(/password-reset/\S+/)",  # type: ignore[attr-defined]
                     mail.outbox[0].body)
    assert sent.status_code == 302 and link is not None
    form_page = client.get(link.group(1), follow=True)
    done = client.post(form_page.request["PATH_INFO"], {"new_password1": STRONG, "new_password2": STRONG})

    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert User.objects.get(username="dora").check_password(STRONG)
    assert LogEntry.objects.filter(kind="password_reset", actor="dora").exists()


def test_password_reset_does_not_say_whether_an_address_is_known(client: Client, settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]

    response = client.post("/password-reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_the_invite_command_prints_a_working_one_time_link(client: Client, settings: object) -> None:
    from io import StringIO

    from django.core.management import call_command

    settings.WHARF_SIGNUP = "invite"  # type: ignore[attr-defined]
    out = StringIO()
    call_command("invite", email="dora@example.com", url="https://wharf.example", stdout=out)
    link = re.search(r"https://wharf\.example(/signup/\?invite=\S+)", out.getvalue())

    assert link is not None
    assert client.get(link.group(1)).status_code == 200


def test_the_github_button_starts_githubs_oauth_flow(client: Client, settings: object) -> None:
    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"  # type: ignore[attr-defined]
    settings.WHARF_GITHUB_URL = "https://github.example"  # type: ignore[attr-defined]

    response = client.post("/login/github/")

    assert response.status_code == 302
    assert response["Location"].startswith("https://github.example/login/oauth/authorize?client_id=client-id")
