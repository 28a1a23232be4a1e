"""Docker token auth: the token endpoint grants requested ∩ held, and /v2/ trusts only tokens it signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from portal.accounts.models import User
from portal.repositories.models import Repository, Visibility
from registry_api import tokens
from tests.factories import PASSWORD, bearer, make_repository, make_user, sha256
from tests.registry_api.helpers import push_blob

CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def challenge_of(response):
    """realm, service and scope of a Bearer challenge; other parameters (RFC 6750 `error`) may follow."""
    scheme, _, params = response["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    found = dict(CHALLENGE_PARAM.findall(params))
    return {key: found.get(key) for key in ("realm", "service", "scope")}


def asks_for(scope):
    return {"realm": "http://testserver/v2/auth", "service": "wharf", "scope": scope}


def basic(username, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request_token(client, *scopes, user=None, password=PASSWORD):
    query = urlencode([("service", "wharf"), *(("scope", scope) for scope in scopes)])
    headers = {"HTTP_AUTHORIZATION": basic(user, password)} if user else {}
    return client.get(f"/v2/auth?{query}", **headers)


def access_of(response):
    """The `access` claim of the token in a token-endpoint answer, after checking its signature."""
    assert response.status_code == 200, response.content
    claims = jwt.decode(response.json()["token"], tokens.keys()[1], algorithms=["RS256"], audience="wharf")
    return claims["access"]


def granted(client, scope, user=None):
    return access_of(request_token(client, scope, user=user))[0]["actions"]


def as_header(response):
    return f"Bearer {response.json()['token']}"


@pytest.fixture
def world(alice, bob):
    make_repository("alice/secret")
    make_repository("alice/public", visibility=Visibility.PUBLIC)


# --- the token endpoint ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_token_endpoint_answers_a_signed_token_for_the_caller(client, alice):
    response = request_token(client, "repository:alice/app:pull", user="alice")

    body = response.json()
    assert response.status_code == 200
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == settings.WHARF_TOKEN_TTL
    claims = jwt.decode(body["token"], tokens.keys()[1], algorithms=["RS256"], audience="wharf")
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("alice", "wharf", "wharf")
    assert claims["exp"] - claims["iat"] == body["expires_in"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["alice/secret", "alice/public", "alice/not-yet-pushed"])
def test_alice_gets_pull_and_push_on_her_own_repositories_even_missing_ones(client, world, name):
    response = request_token(client, f"repository:{name}:pull,push", user="alice")
    assert access_of(response) == [{"type": "repository", "name": name, "actions": ["pull", "push"]}]


@pytest.mark.django_db
def test_bob_gets_no_action_on_alices_private_repository(client, world):
    assert granted(client, "repository:alice/secret:pull,push", user="bob") == []


@pytest.mark.django_db
def test_bob_gets_only_pull_on_alices_public_repository(client, world):
    assert granted(client, "repository:alice/public:pull,push,delete,*", user="bob") == ["pull"]


@pytest.mark.django_db
def test_each_scope_of_one_request_is_granted_on_its_own(client, world):
    response = request_token(client, "repository:alice/public:pull", "repository:bob/app:pull,push",
                             "repository:alice/secret:pull", user="bob")
    assert access_of(response) == [
        {"type": "repository", "name": "alice/public", "actions": ["pull"]},
        {"type": "repository", "name": "bob/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "alice/secret", "actions": []},
    ]


@pytest.mark.django_db
def test_unknown_actions_and_malformed_scopes_are_granted_nothing(client, world):
    response = request_token(client, "repository:alice/app:pull,fly", "nonsense", "repository::pull", user="alice")
    assert access_of(response) == [{"type": "repository", "name": "alice/app", "actions": ["pull"]}]


@pytest.mark.django_db
def test_an_outsider_cannot_tell_a_private_repository_from_a_missing_one_at_the_token_endpoint(client, world):
    private = request_token(client, "repository:alice/secret:pull,push", user="bob")
    missing = request_token(client, "repository:alice/ghost0:pull,push", user="bob")

    assert private.status_code == missing.status_code == 200
    assert access_of(private) == [{"type": "repository", "name": "alice/secret", "actions": []}]
    assert access_of(missing) == [{"type": "repository", "name": "alice/ghost0", "actions": []}]


@pytest.mark.django_db
@pytest.mark.parametrize("user, password", [("alice", "wrong"), ("nobody", PASSWORD), ("alice", "")])
def test_bad_credentials_are_a_401_json_error(client, alice, user, password):
    response = request_token(client, "repository:alice/app:pull", user=user, password=password)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert "token" not in response.json()


@pytest.mark.django_db
def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client, alice):
    wrong = request_token(client, "repository:alice/app:pull", user="alice", password="wrong")
    unknown = request_token(client, "repository:alice/app:pull", user="nobody")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())


@pytest.mark.django_db
def test_malformed_basic_credentials_are_a_401(client, alice):
    response = client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION="Basic !!not-base64!!")
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_deactivated_user_gets_no_token(client, db):
    make_user("dora", is_active=False)
    assert request_token(client, "repository:dora/app:pull", user="dora").status_code == 401


@pytest.mark.django_db
def test_an_anonymous_token_grants_pull_on_public_repositories_only(client, world):
    response = request_token(client, "repository:alice/public:pull,push", "repository:alice/secret:pull")

    assert access_of(response) == [{"type": "repository", "name": "alice/public", "actions": ["pull"]},
                                   {"type": "repository", "name": "alice/secret", "actions": []}]
    assert client.get("/v2/alice/public/tags/list", HTTP_AUTHORIZATION=as_header(response)).status_code == 200
    assert client.get("/v2/alice/secret/tags/list", HTTP_AUTHORIZATION=as_header(response)).status_code == 401


@pytest.mark.django_db
def test_the_catalog_scope_is_granted_as_asked(client, alice):
    response = request_token(client, "registry:catalog:*", user="alice")

    assert access_of(response) == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    assert client.get("/v2/_catalog", HTTP_AUTHORIZATION=as_header(response)).status_code == 200


@pytest.mark.django_db
def test_the_catalog_scope_grants_no_other_registry_resource_or_action(client, alice):
    response = request_token(client, "registry:catalog:pull", "registry:other:*", user="alice")
    assert [entry["actions"] for entry in access_of(response)] == [[], []]


# --- what /v2/ accepts ---------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_token_from_the_endpoint_pushes_and_pulls(client, alice):
    header = as_header(request_token(client, "repository:alice/app:pull,push", user="alice"))
    digest = sha256(b"layer")

    pushed = client.post(f"/v2/alice/app/blobs/uploads/?digest={digest}", data=b"layer",
                         content_type="application/octet-stream", HTTP_AUTHORIZATION=header)

    assert pushed.status_code == 201
    assert client.get(f"/v2/alice/app/blobs/{digest}", HTTP_AUTHORIZATION=header).status_code == 200


def _claims(**override):
    now = int(time.time())
    alice = User.objects.get(username="alice")
    claims = {"iss": "wharf", "sub": "alice", "cred": f"user:{alice.pk}", "aud": "wharf", "iat": now,
              "nbf": now - 5, "exp": now + 300,
              "access": [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]}
    return {**claims, **override}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key():
    """The algorithm-confusion attack: HMAC-sign with the registry's public key as the secret."""
    public = tokens.keys()[1].public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{_b64(header)}.{_b64(json.dumps(_claims()).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered():
    header, _, signature = jwt.encode(_claims(access=[]), tokens.keys()[0], algorithm="RS256").split(".")
    return f"{header}.{_b64(json.dumps(_claims()).encode())}.{signature}"


FORGERIES = {
    "alg none": lambda: jwt.encode(_claims(), None, algorithm="none"),
    "another key": lambda: jwt.encode(_claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                      algorithm="RS256"),
    "expired": lambda: jwt.encode(_claims(iat=int(time.time()) - 600, exp=int(time.time()) - 60),
                                  tokens.keys()[0], algorithm="RS256"),
    "another audience": lambda: jwt.encode(_claims(aud="elsewhere"), tokens.keys()[0], algorithm="RS256"),
    "another issuer": lambda: jwt.encode(_claims(iss="mallory"), tokens.keys()[0], algorithm="RS256"),
    "hs256 with the public key": _hs256_with_public_key,
    "tampered payload": _tampered,
    "not a jwt": lambda: "garbage",
}


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_token_is_refused(client, alice, forgery):
    make_repository("alice/app")

    response = client.get("/v2/alice/app/tags/list", HTTP_AUTHORIZATION=f"Bearer {FORGERIES[forgery]()}")

    assert response.status_code == 401
    assert challenge_of(response) == asks_for("repository:alice/app:pull")
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.django_db
def test_the_same_claims_signed_by_the_registry_are_accepted(client, alice):
    make_repository("alice/app")
    token = jwt.encode(_claims(), tokens.keys()[0], algorithm="RS256")
    assert client.get("/v2/alice/app/tags/list", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.django_db
def test_a_token_for_one_repository_does_not_open_another(client, alice):
    make_repository("alice/x")
    make_repository("alice/y")

    response = client.get("/v2/alice/y/tags/list", HTTP_AUTHORIZATION=bearer("alice", ("alice/x", "pull,push")))

    assert response.status_code == 401
    assert challenge_of(response) == asks_for("repository:alice/y:pull")


@pytest.mark.django_db
def test_a_pull_token_does_not_push(client, alice):
    make_repository("alice/app")

    response = client.post("/v2/alice/app/blobs/uploads/", HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull")))

    assert response.status_code == 401
    assert challenge_of(response) == asks_for("repository:alice/app:pull,push")


@pytest.mark.django_db
def test_a_permission_withdrawn_after_the_token_was_issued_applies_at_once(client, world):
    header = as_header(request_token(client, "repository:alice/public:pull", user="bob"))
    assert client.get("/v2/alice/public/tags/list", HTTP_AUTHORIZATION=header).status_code == 200

    Repository.objects.filter(full_name="alice/public").update(visibility=Visibility.PRIVATE)

    assert client.get("/v2/alice/public/tags/list", HTTP_AUTHORIZATION=header).status_code == 401


# --- the challenge ---------------------------------------------------------------------------------------------------

CHALLENGED = [
    ("get", "/v2/alice/app/manifests/latest", "pull"),
    ("head", "/v2/alice/app/manifests/latest", "pull"),
    ("get", "/v2/alice/app/tags/list", "pull"),
    ("get", f"/v2/alice/app/blobs/{sha256(b'x')}", "pull"),
    ("get", f"/v2/alice/app/referrers/{sha256(b'x')}", "pull"),
    ("put", "/v2/alice/app/manifests/latest", "pull,push"),
    ("post", "/v2/alice/app/blobs/uploads/", "pull,push"),
    ("delete", "/v2/alice/app/manifests/latest", "delete"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, actions", CHALLENGED)
def test_a_request_without_a_token_is_challenged_for_the_scope_it_needs(client, alice, method, path, actions):
    make_repository("alice/app")

    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert challenge_of(response) == asks_for(f"repository:alice/app:{actions}")


@pytest.mark.django_db
def test_the_catalog_challenge_asks_for_the_catalog_scope(client, alice):
    response = client.get("/v2/_catalog")

    assert response.status_code == 401
    assert challenge_of(response) == asks_for("registry:catalog:*")


# --- private and missing look alike to an outsider --------------------------------------------------------------

OUTSIDER_REQUESTS = [
    ("get", "manifests/latest", "pull"),
    ("head", "manifests/latest", "pull"),
    ("get", "tags/list", "pull"),
    ("get", f"blobs/{sha256(b'layer')}", "pull"),
    ("put", "manifests/latest", "pull,push"),
    ("post", "blobs/uploads/", "pull,push"),
]


def outsider_answer(client, name, method, path, how):
    if how == "token from the endpoint":
        header = {"HTTP_AUTHORIZATION": as_header(request_token(client, f"repository:{name}:pull,push", user="bob"))}
    elif how == "token claiming access":
        header = {"HTTP_AUTHORIZATION": bearer("bob", (name, "pull,push"))}
    else:
        header = {}
    response = getattr(client, method)(f"/v2/{name}/{path}", **header)
    body = response.content.decode().replace(name, "<name>")
    return (response.status_code, body, response["WWW-Authenticate"].replace(name, "<name>")), response


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["token from the endpoint", "token claiming access", "no token"])
@pytest.mark.parametrize("method, path, actions", OUTSIDER_REQUESTS)
def test_an_outsider_cannot_tell_a_private_repository_from_a_missing_one(client, world, how, method, path, actions):
    push_blob(client, "alice/secret", b"layer")

    private, response = outsider_answer(client, "alice/secret", method, path, how)
    missing, _ = outsider_answer(client, "alice/ghost0", method, path, how)

    assert private == missing
    assert private[0] == 401
    assert challenge_of(response) == asks_for(f"repository:alice/secret:{actions}")
    assert not Repository.objects.filter(full_name="alice/ghost0").exists()


@pytest.mark.django_db
def test_a_token_stops_working_when_its_user_is_disabled(client, alice):
    make_repository("alice/app")
    authorization = bearer("alice", ("alice/app", "pull"))
    assert client.get("/v2/alice/app/tags/list", HTTP_AUTHORIZATION=authorization).status_code == 200

    alice.is_active = False
    alice.save()

    response = client.get("/v2/alice/app/tags/list", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_a_changed_password_is_refused_at_once_even_after_a_fast_repeat_login(client, alice):
    def token_status(password):
        credentials = base64.b64encode(f"alice:{password}".encode()).decode()
        return client.get("/v2/auth?service=wharf", HTTP_AUTHORIZATION=f"Basic {credentials}").status_code

    assert token_status(PASSWORD) == 200
    assert token_status(PASSWORD) == 200   # the second check is served from the memo
    alice.set_password("a brand new password 42")
    alice.save()

    assert token_status(PASSWORD) == 401
    assert token_status("a brand new password 42") == 200
