"""Sign in with GitHub, with GitHub itself replaced at the HTTP edge by a small local server that speaks
its OAuth token endpoint and the two API calls social-auth makes (/user and /user/emails)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from social_django.models import UserSocialAuth

from portal.accounts.models import Namespace, User
from portal.audit.models import LogEntry
from tests.factories import make_organization, make_user


@dataclass
class FakeGithub:
    """What the double answers, and what it was asked."""

    url: str = ""
    login: str = "Octo-Cat"
    uid: int = 583231
    email: str = "octo@example.com"
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    issued_code: str = "the-code"

    def profile(self) -> dict[str, Any]:
        return {"login": self.login, "id": self.uid, "name": "The Octocat", "email": None}


def _handler(github: FakeGithub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            github.requests.append(("POST", self.path, form))
            if urlsplit(self.path).path != "/login/oauth/access_token":
                return self._reply(404, {"message": "Not Found"})
            if form.get("code") != github.issued_code or form.get("client_secret") != "s3cret":
                # GitHub answers a bad code with 200 and an error document.
                return self._reply(200, {"error": "bad_verification_code"})
            self._reply(200, {"access_token": "gho_fake", "token_type": "bearer", "scope": "read:user,user:email"})

        def do_GET(self) -> None:  # noqa: N802
            github.requests.append(("GET", self.path, {"authorization": self.headers.get("Authorization", "")}))
            if self.headers.get("Authorization") != "token gho_fake":
                return self._reply(401, {"message": "Bad credentials"})
            if self.path == "/user":
                return self._reply(200, github.profile())
            if self.path == "/user/emails":
                return self._reply(200, [{"email": "old@example.com", "primary": False, "verified": True},
                                         {"email": github.email, "primary": True, "verified": True}])
            self._reply(404, {"message": "Not Found"})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def github(settings: Any) -> Iterator[FakeGithub]:
    fake = FakeGithub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.WHARF_GITHUB_URL = fake.url
    settings.WHARF_GITHUB_API_URL = fake.url
    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"
    settings.SOCIAL_AUTH_GITHUB_SECRET = "s3cret"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def begin(client: Client, github: FakeGithub) -> str:
    """POST /login/github/: the redirect to GitHub's authorize page; returns the state it carries.

    social-auth-app-django 8 starts a login only on a POST (with the CSRF token), so that another site
    cannot sign a visitor in to an account of its choosing; the page's button is a one-field form."""
    response = client.post("/login/github/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{github.url}/login/oauth/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == ["client-id"]
    assert query["redirect_uri"] == ["http://testserver/complete/github/"]
    assert set(query["scope"][0].split(",")) == {"read:user", "user:email"}
    return query["state"][0]


def sign_in(client: Client, github: FakeGithub) -> Any:
    state = begin(client, github)
    return client.get("/complete/github/", {"code": github.issued_code, "state": state})


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return None if user_id is None else User.objects.get(pk=user_id).username


@pytest.mark.django_db
def test_a_first_github_sign_in_creates_a_user_named_after_the_github_login(client: Client,
                                                                           github: FakeGithub) -> None:
    response = sign_in(client, github)

    assert response.status_code == 302
    user = User.objects.get(username="octo-cat")
    assert signed_in_as(client) == "octo-cat"
    assert user.email == "octo@example.com"                 # the primary address from /user/emails
    assert Namespace.objects.get(name="octo-cat").user == user
    assert not user.has_usable_password()
    social = UserSocialAuth.objects.get(user=user)
    assert (social.provider, social.uid) == ("github", "583231")
    assert social.extra_data["login"] == "Octo-Cat"
    token_request = next(r for r in github.requests if r[0] == "POST")
    assert token_request[2]["client_id"] == "client-id"
    assert token_request[2]["redirect_uri"] == "http://testserver/complete/github/"
    entry = LogEntry.objects.get(kind="login")
    assert (entry.actor, entry.target, entry.detail["method"], entry.detail["new_user"]) == \
        ("octo-cat", "octo-cat", "github", True)


@pytest.mark.django_db
def test_a_login_starts_only_from_a_post_with_the_csrf_token(github: FakeGithub) -> None:
    strict = Client(enforce_csrf_checks=True)

    assert strict.get("/login/github/").status_code == 405
    assert strict.post("/login/github/").status_code == 403
    assert not github.requests


@pytest.mark.django_db
def test_signing_in_again_finds_the_same_user(client: Client, github: FakeGithub) -> None:
    sign_in(client, github)
    client.logout()
    github.login = "renamed-on-github"       # the GitHub id, not the login, says who it is

    sign_in(client, github)

    assert signed_in_as(client) == "octo-cat"
    assert User.objects.count() == 1
    assert UserSocialAuth.objects.count() == 1
    logins = LogEntry.objects.filter(kind="login").order_by("id")
    assert list(logins.values_list("detail__new_user", flat=True)) == [True, False]


@pytest.mark.django_db
@pytest.mark.parametrize(("login", "taken", "expected"), [
    ("octocat", "user", "octocat2"),
    ("Octocat", "user", "octocat2"),
    ("acme", "organization", "acme2"),
    ("admin", None, "admin2"),
    ("Login", None, "login2"),
    ("some_Body--x", None, "some-body-x"),
])
def test_a_taken_or_reserved_name_gets_a_number(client: Client, github: FakeGithub, login: str, taken: str | None,
                                                expected: str) -> None:
    if taken == "user":
        make_user("octocat")
    elif taken == "organization":
        make_organization("acme")
    github.login = login

    sign_in(client, github)

    assert signed_in_as(client) == expected


@pytest.mark.django_db
def test_the_number_counts_past_names_already_suffixed(client: Client, github: FakeGithub) -> None:
    make_user("octocat")
    make_user("octocat2")
    github.login = "octocat"

    sign_in(client, github)

    assert signed_in_as(client) == "octocat3"


@pytest.mark.django_db
def test_a_signed_in_user_connects_github_to_their_account(client: Client, github: FakeGithub) -> None:
    dora = make_user("dora")
    client.force_login(dora)

    response = sign_in(client, github)

    assert response.status_code == 302
    assert signed_in_as(client) == "dora"
    assert User.objects.count() == 1
    assert UserSocialAuth.objects.get(provider="github").user == dora
    entry = LogEntry.objects.get(kind="github_connect")
    assert (entry.actor, entry.target) == ("dora", "dora")
    # and from now on, GitHub signs dora in
    client.logout()
    sign_in(client, github)
    assert signed_in_as(client) == "dora"


@pytest.mark.django_db
def test_a_github_account_connected_to_one_user_cannot_be_connected_to_another(client: Client,
                                                                               github: FakeGithub) -> None:
    sign_in(client, github)
    client.logout()
    client.force_login(make_user("dora"))

    state = begin(client, github)
    refused = _complete_refused(client, {"code": github.issued_code, "state": state})

    assert refused
    assert UserSocialAuth.objects.get(provider="github").user.username == "octo-cat"


def _complete_refused(client: Client, params: dict[str, str]) -> bool:
    """GET /complete/github/: refused means sent back to the login page, nobody new signed in."""
    before = signed_in_as(client)
    response = client.get("/complete/github/", params)
    return (response.status_code == 302 and response["Location"] == settings.SOCIAL_AUTH_LOGIN_ERROR_URL
            and signed_in_as(client) == before)


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["wrong state", "missing state", "state without a session", "bad code"])
def test_a_callback_with_bad_state_or_code_is_refused(client: Client, github: FakeGithub, case: str) -> None:
    state = begin(client, github)
    params = {"code": github.issued_code, "state": state}
    if case == "wrong state":
        params["state"] = state[:-1] + ("a" if state[-1] != "a" else "b")
    elif case == "missing state":
        del params["state"]
    elif case == "state without a session":
        client.cookies.clear()
    elif case == "bad code":
        params["code"] = "forged"

    assert _complete_refused(client, params)
    assert not User.objects.exists()
    assert not UserSocialAuth.objects.exists()
    if case != "bad code":   # refused before GitHub was asked anything
        assert not [r for r in github.requests if r[0] == "POST"]


@pytest.mark.django_db
def test_a_disabled_user_cannot_sign_in_with_github(client: Client, github: FakeGithub) -> None:
    sign_in(client, github)
    client.logout()
    User.objects.filter(username="octo-cat").update(is_active=False)

    sign_in(client, github)

    assert signed_in_as(client) is None
