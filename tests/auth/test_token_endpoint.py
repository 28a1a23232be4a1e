"""GET/POST /v2/auth with every kind of credential, refresh tokens, and registry tokens that die with their
credential: a deleted robot, a regenerated robot token, a revoked or expired API token, a disabled user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.test import Client
from django.utils import timezone

from portal.accounts.models import ApiToken, Robot, User
from registry_api import tokens
from tests.auth.conftest import World
from tests.factories import PASSWORD, make_api_token

pytestmark = pytest.mark.usefixtures("fast_hashes")

APP_PULL_PUSH = "repository:acme/app:pull,push"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def get_token(client: Client, username: str | None, secret: str, *scopes: str, **params: str) -> Any:
    query = urlencode([("service", "wharf"), *(("scope", s) for s in scopes), *params.items()])
    headers = {"HTTP_AUTHORIZATION": basic(username, secret)} if username is not None else {}
    return client.get(f"/v2/auth?{query}", **headers)


def post_token(client: Client, **form: str) -> Any:
    return client.post("/v2/auth", {"service": "wharf", "client_id": "tests", **form})


def claims_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    decoded: dict[str, Any] = jwt.decode(response.json()["token"], tokens.keys()[1], algorithms=["RS256"],
                                         audience="wharf")
    return decoded


def actions_of(response: Any) -> list[list[str]]:
    return [entry["actions"] for entry in claims_of(response)["access"]]


def bearer(response: Any) -> str:
    return f"Bearer {response.json()['token']}"


def pull_tags(client: Client, header: str, name: str = "acme/app") -> Any:
    return client.get(f"/v2/{name}/tags/list", HTTP_AUTHORIZATION=header)


def refreshed(client: Client, refresh_token: str, scope: str = APP_PULL_PUSH) -> Any:
    return post_token(client, grant_type="refresh_token", refresh_token=refresh_token, scope=scope)


# --- each credential ---------------------------------------------------------------------------------------------

def test_a_password_gets_what_the_user_holds(client: Client, world: World) -> None:
    response = get_token(client, "writer", PASSWORD, APP_PULL_PUSH, "repository:acme/vault:pull")

    claims = claims_of(response)
    assert claims["sub"] == "writer"
    assert claims["cred"].startswith(f"user:{world.users['writer'].pk}:")
    assert actions_of(response) == [["pull", "push"], []]
    assert "refresh_token" not in response.json()
    assert pull_tags(client, bearer(response)).status_code == 200


@pytest.mark.parametrize(("robot", "expected"), [("ci", ["pull", "push"]), ("puller", ["pull"]), ("idle", [])])
def test_a_robot_token_gets_what_the_robot_holds(client: Client, world: World, robot: str,
                                                 expected: list[str]) -> None:
    _, secret = world.robots[robot]

    response = get_token(client, f"acme+{robot}", secret, APP_PULL_PUSH, "repository:acme/new:pull,push")

    assert claims_of(response)["sub"] == f"acme+{robot}"
    assert actions_of(response) == [expected, []]      # and robots never create


@pytest.mark.parametrize("username", ["writer", "$token", "$oauthtoken", "token", "oauth2"])
def test_an_api_token_works_with_its_owners_name_or_a_token_username(client: Client, world: World,
                                                                       username: str) -> None:
    secret = make_api_token(world.users["writer"], "repo:read")

    response = get_token(client, username, secret, APP_PULL_PUSH)

    assert claims_of(response)["sub"] == "writer"      # the token says who it is, whatever the username
    assert actions_of(response) == [["pull"]]           # capped by repo:read
    assert pull_tags(client, bearer(response)).status_code == 200


def test_an_api_token_presented_under_another_users_name_is_refused(client: Client, world: World) -> None:
    secret = make_api_token(world.users["writer"], "repo:read")

    assert get_token(client, "reader", secret, APP_PULL_PUSH).status_code == 401


def test_an_api_token_with_write_and_create_creates_where_its_user_may(client: Client, world: World) -> None:
    creator = world.users["creator"]
    full = make_api_token(creator, "repo:write", "repo:create", name="full")
    no_create = make_api_token(creator, "repo:admin", name="nocreate")

    assert actions_of(get_token(client, "creator", full, "repository:acme/new:pull,push")) == [["pull", "push"]]
    assert actions_of(get_token(client, "creator", no_create, "repository:acme/new:pull,push")) == [[]]


def test_anonymous_gets_pull_on_public_repositories_only(client: Client, world: World) -> None:
    response = get_token(client, None, "", "repository:acme/site:pull,push", APP_PULL_PUSH)

    assert claims_of(response)["sub"] == ""
    assert actions_of(response) == [["pull"], []]


# --- refusals ------------------------------------------------------------------------------------------------------

def _wrong_secrets(world: World) -> dict[str, tuple[str, str]]:
    _, ci_secret = world.robots["ci"]
    return {
        "wrong password": ("writer", "not the password"),
        "unknown user": ("nobody-at-all", "not the password"),
        "unknown user with the right password shape": ("ghost", PASSWORD),
        "wrong robot token": ("acme+ci", ci_secret[:-4] + "AAAA"),
        "another robot's token": ("acme+puller", ci_secret),
        "unknown robot": ("acme+ghost", ci_secret),
        "robot of an unknown namespace": ("ghost+ci", ci_secret),
        "unknown api token": ("writer", "wharf_pat_" + "x" * 43),
        "disabled user": ("disabled", PASSWORD),
    }


def test_every_wrong_secret_gets_the_same_401(client: Client, world: World) -> None:
    answers = {case: get_token(client, user, secret, APP_PULL_PUSH)
               for case, (user, secret) in _wrong_secrets(world).items()}

    for case, response in answers.items():
        assert response.status_code == 401, case
        assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}
        assert "token" not in response.json()
    headers = {case: sorted(k for k in r.headers if k not in ("Content-Length",)) for case, r in answers.items()}
    assert len({tuple(h) for h in headers.values()}) == 1


def test_a_private_repository_and_a_missing_one_get_the_same_empty_grant(client: Client, world: World) -> None:
    scopes = ["repository:acme/vault:pull,push,delete,*", "repository:acme/nothing:pull,push,delete,*",
              "repository:ghost/app:pull,push,delete,*"]
    for who, secret in [("outsider", PASSWORD), ("member", PASSWORD), ("acme+ci", world.robots["ci"][1])]:
        response = get_token(client, who, secret, *scopes)
        assert actions_of(response) == [[], [], []], who


# --- refresh tokens ------------------------------------------------------------------------------------------------

def test_offline_token_true_adds_a_refresh_token_that_gets_new_access_tokens(client: Client, world: World) -> None:
    first = get_token(client, "writer", PASSWORD, APP_PULL_PUSH, offline_token="true")
    refresh_token = first.json()["refresh_token"]

    again = refreshed(client, refresh_token, "repository:acme/app:pull repository:acme/vault:pull")

    assert claims_of(again)["sub"] == "writer"
    assert actions_of(again) == [["pull"], []]
    assert "refresh_token" not in again.json()
    assert pull_tags(client, bearer(again)).status_code == 200


def test_the_password_grant_with_access_type_offline_adds_a_refresh_token(client: Client, world: World) -> None:
    offline = post_token(client, grant_type="password", username="writer", password=PASSWORD,
                         access_type="offline", scope=APP_PULL_PUSH)
    online = post_token(client, grant_type="password", username="writer", password=PASSWORD, scope=APP_PULL_PUSH)

    assert actions_of(offline) == [["pull", "push"]]
    assert "refresh_token" not in online.json()
    assert actions_of(refreshed(client, offline.json()["refresh_token"])) == [["pull", "push"]]


def test_the_password_grant_refuses_a_wrong_password(client: Client, world: World) -> None:
    response = post_token(client, grant_type="password", username="writer", password="nope", access_type="offline")

    assert response.status_code == 401
    assert "refresh_token" not in response.json()


def test_an_unknown_grant_type_is_refused(client: Client, world: World) -> None:
    assert post_token(client, grant_type="client_credentials").status_code == 401


def test_anonymous_gets_no_refresh_token(client: Client, world: World) -> None:
    assert "refresh_token" not in get_token(client, None, "", offline_token="true").json()


def test_robots_and_api_tokens_get_refresh_tokens_too(client: Client, world: World) -> None:
    api_secret = make_api_token(world.users["writer"], "repo:write")
    for username, secret in [("acme+ci", world.robots["ci"][1]), ("$token", api_secret)]:
        first = get_token(client, username, secret, offline_token="true")
        assert actions_of(refreshed(client, first.json()["refresh_token"])) == [["pull", "push"]], username


def _revoke(world: World, how: str) -> None:
    from portal.access import Principal
    from portal.accounts import services

    actor = Principal.for_user(world.users["owner"])
    if how == "user disabled":
        User.objects.filter(username="writer").update(is_active=False)
    elif how == "robot deleted":
        services.delete_robot(actor, Robot.objects.get(name="ci"))
    elif how == "robot token regenerated":
        services.regenerate_robot_token(actor, Robot.objects.get(name="ci"))
    elif how == "api token revoked":
        services.revoke_api_token(actor, ApiToken.objects.get(name="t"))
    elif how == "api token expired":
        ApiToken.objects.filter(name="t").update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "api token owner disabled":
        User.objects.filter(username="writer").update(is_active=False)
    elif how == "password changed":
        writer = User.objects.get(username="writer")
        writer.set_password("an entirely new passphrase")
        writer.save()


WAYS = ["user disabled", "password changed", "robot deleted", "robot token regenerated", "api token revoked",
        "api token expired", "api token owner disabled"]


def _credential(world: World, how: str) -> tuple[str, str]:
    if how.startswith("robot"):
        return "acme+ci", world.robots["ci"][1]
    if how.startswith("api token"):
        return "writer", make_api_token(world.users["writer"], "repo:write", name="t", expires_at=timezone.now()
                                        + timedelta(hours=1))
    return "writer", PASSWORD


@pytest.mark.parametrize("how", WAYS)
def test_a_refresh_token_dies_with_its_credential(client: Client, world: World, how: str) -> None:
    username, secret = _credential(world, how)
    refresh_token = get_token(client, username, secret, offline_token="true").json()["refresh_token"]
    assert refreshed(client, refresh_token).status_code == 200

    _revoke(world, how)

    response = refreshed(client, refresh_token)
    assert response.status_code == 401
    assert "token" not in response.json()


@pytest.mark.parametrize("how", WAYS)
def test_the_token_endpoint_refuses_a_dead_credential(client: Client, world: World, how: str) -> None:
    username, secret = _credential(world, how)
    assert get_token(client, username, secret, APP_PULL_PUSH).status_code == 200

    _revoke(world, how)

    assert get_token(client, username, secret, APP_PULL_PUSH).status_code == 401


@pytest.mark.parametrize("how", WAYS)
def test_a_registry_token_already_issued_stops_at_once_with_its_credential(client: Client, world: World,
                                                                           how: str) -> None:
    username, secret = _credential(world, how)
    header = bearer(get_token(client, username, secret, APP_PULL_PUSH))
    assert pull_tags(client, header).status_code == 200

    _revoke(world, how)

    response = pull_tags(client, header)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert client.get("/v2/", HTTP_AUTHORIZATION=header).status_code == 401


def test_a_registry_token_survives_changes_other_than_its_password(client: Client, world: World) -> None:
    response = get_token(client, "writer", PASSWORD, APP_PULL_PUSH, offline_token="true")
    User.objects.filter(username="writer").update(email="new@example.com", first_name="W")
    reader = User.objects.get(username="reader")
    reader.set_password("the readers new passphrase")
    reader.save()

    assert pull_tags(client, bearer(response)).status_code == 200
    assert refreshed(client, response.json()["refresh_token"]).status_code == 200


def test_a_registry_token_names_the_password_it_was_issued_for(client: Client, world: World) -> None:
    cred = claims_of(get_token(client, "writer", PASSWORD))["cred"]
    kind, user_id, generation = cred.split(":")

    assert (kind, int(user_id)) == ("user", world.users["writer"].pk)
    assert len(generation) == 16
    assert generation not in User.objects.get(username="writer").password   # keyed: nothing of the hash


def test_a_regenerated_robot_token_works_and_the_old_one_does_not(client: Client, world: World) -> None:
    from portal.access import Principal
    from portal.accounts import services

    robot, old = world.robots["ci"]
    new = services.regenerate_robot_token(Principal.for_user(world.users["owner"]), robot)

    assert get_token(client, "acme+ci", old, APP_PULL_PUSH).status_code == 401
    assert actions_of(get_token(client, "acme+ci", new, APP_PULL_PUSH)) == [["pull", "push"]]


def test_a_refresh_token_for_a_recreated_robot_of_the_same_name_is_refused(client: Client, world: World) -> None:
    from tests.factories import make_robot

    refresh_token = get_token(client, "acme+ci", world.robots["ci"][1], offline_token="true").json()["refresh_token"]
    Robot.objects.filter(name="ci").delete()
    make_robot("acme", "ci")

    assert refreshed(client, refresh_token).status_code == 401


# --- forged and misused tokens ---------------------------------------------------------------------------------

def _claims(world: World, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "wharf", "sub": "writer", "cred": f"user:{world.users['writer'].pk}", "aud": "wharf",
              "iat": now, "nbf": now - 5, "exp": now + 300,
              "access": [{"type": "repository", "name": "acme/app", "actions": ["pull", "push"]}]}
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(claims: dict[str, Any]) -> str:
    public = tokens.keys()[1].public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())}"


def _tampered(world: World) -> str:
    header, _, signature = jwt.encode(_claims(world, access=[]), tokens.keys()[0], algorithm="RS256").split(".")
    return f"{header}.{_b64(json.dumps(_claims(world)).encode())}.{signature}"


def _signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, tokens.keys()[0], algorithm="RS256")


FORGERIES = {
    "alg none": lambda w: jwt.encode(_claims(w), None, algorithm="none"),
    "another key": lambda w: jwt.encode(_claims(w), rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                        algorithm="RS256"),
    "hs256 with the public key": lambda w: _hs256_with_public_key(_claims(w)),
    "tampered payload": _tampered,
    "no cred claim": lambda w: _signed(_claims(w, cred=None)),
    "empty cred claim": lambda w: _signed(_claims(w, cred="")),
    "cred of another user": lambda w: _signed(_claims(w, cred=f"user:{w.users['reader'].pk}")),
    "cred of a robot without its generation": lambda w: _signed(_claims(
        w, sub="acme+ci", cred=f"robot:{w.robots['ci'][0].pk}")),
    "cred of a robot with a wrong generation": lambda w: _signed(_claims(
        w, sub="acme+ci", cred=f"robot:{w.robots['ci'][0].pk}:0000000000000000")),
    "cred of an unknown kind": lambda w: _signed(_claims(w, cred=f"admin:{w.users['writer'].pk}")),
    "a refresh token": lambda w: tokens.issue_refresh("writer", f"user:{w.users['writer'].pk}"),
    "expired": lambda w: _signed(_claims(w, iat=int(time.time()) - 900, exp=int(time.time()) - 60)),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_misused_registry_token_is_refused(client: Client, world: World, forgery: str) -> None:
    response = pull_tags(client, f"Bearer {FORGERIES[forgery](world)}")

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_the_same_claims_properly_signed_are_accepted(client: Client, world: World) -> None:
    # The control for the forgeries above: only the forgery makes them fail.
    assert pull_tags(client, f"Bearer {_signed(_claims(world))}").status_code == 200


REFRESH_FORGERIES = {
    "an access token": lambda w: tokens.issue("writer", [], f"user:{w.users['writer'].pk}")[0],
    "alg none": lambda w: jwt.encode({**_claims(w, access=None), "aud": "wharf:refresh"}, None, algorithm="none"),
    "another key": lambda w: jwt.encode({**_claims(w, access=None), "aud": "wharf:refresh"},
                                        rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                        algorithm="RS256"),
    "hs256 with the public key": lambda w: _hs256_with_public_key({**_claims(w, access=None), "aud": "wharf:refresh"}),
    "no cred claim": lambda w: _signed({**_claims(w, access=None, cred=None), "aud": "wharf:refresh"}),
    "cred of another user": lambda w: tokens.issue_refresh("writer", f"user:{w.users['reader'].pk}"),
    "expired": lambda w: _signed({**_claims(w, access=None, exp=int(time.time()) - 60), "aud": "wharf:refresh"}),
    "garbage": lambda w: "not.a.jwt",
}


@pytest.mark.parametrize("forgery", list(REFRESH_FORGERIES))
def test_a_forged_or_misused_refresh_token_is_refused(client: Client, world: World, forgery: str) -> None:
    response = refreshed(client, REFRESH_FORGERIES[forgery](world))

    assert response.status_code == 401
    assert "token" not in response.json()


def test_a_properly_signed_refresh_token_is_accepted(client: Client, world: World) -> None:
    good = tokens.issue_refresh("writer", f"user:{world.users['writer'].pk}")
    assert refreshed(client, good).status_code == 200
    assert settings.WHARF_REFRESH_TOKEN_TTL > settings.WHARF_TOKEN_TTL
