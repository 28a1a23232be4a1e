"""Nobody can aim the abuse limits at someone else: an attacker who fails for alice and for the robot acme+ci
slows down only the address it fails from; alice from her own address and the robot's token from anywhere
still get in, at every door (the registry's token endpoint, Basic auth on the API, the sign-in form)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from portal.accounts.models import User
from tests.auth.conftest import World
from tests.factories import PASSWORD, make_api_token, make_user

ATTACKER, ALICE, ELSEWHERE = "10.6.6.6", "10.1.1.1", "10.2.2.2"
ATTEMPTS = 50
Door = Callable[[Client, str, str, str], Any]


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def token_endpoint(client: Client, username: str, secret: str, ip: str) -> Any:
    return client.get("/v2/auth?service=wharf&scope=repository:acme/app:pull",
                      HTTP_AUTHORIZATION=basic(username, secret), REMOTE_ADDR=ip)


def api(client: Client, username: str, secret: str, ip: str) -> Any:
    return client.get("/api/v1/user/", HTTP_AUTHORIZATION=basic(username, secret), REMOTE_ADDR=ip)


def web(client: Client, username: str, secret: str, ip: str) -> Any:
    return Client().post("/login/", {"username": username, "password": secret}, REMOTE_ADDR=ip)


DOORS = {"token endpoint": token_endpoint, "api": api, "web": web}
OK = {"token endpoint": 200, "api": 200, "web": 302}


@pytest.fixture
def alice(world: World, fast_hashes: None) -> User:
    user = make_user("alice")
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD))   # the fast hash, as the others
    return user


def attack(client: Client, door: Door, ip: str = ATTACKER) -> list[int]:
    statuses = []
    for username, secret in [("alice", "guess"), ("acme+ci", "wharf_robot_guess")]:
        statuses += [door(client, username, f"{secret}{n}", ip).status_code for n in range(ATTEMPTS)]
    return statuses


@pytest.mark.parametrize("door", DOORS)
def test_the_attacker_is_refused_with_retry_after_once_it_has_failed_enough(client: Client, world: World,
                                                                            alice: User, door: str) -> None:
    statuses = attack(client, DOORS[door])

    failed = 400 if door == "web" else 401
    assert statuses[:10] == [failed] * 10          # ten guesses at alice from one address
    assert statuses[10:ATTEMPTS] == [429] * 40
    assert 429 in statuses[ATTEMPTS:]
    refused = DOORS[door](client, "alice", "another guess", ATTACKER)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 300
    # Even alice's right password waits at the attacker's address: it is the address that failed.
    assert DOORS[door](client, "alice", PASSWORD, ATTACKER).status_code == 429


@pytest.mark.parametrize("door", DOORS)
def test_alice_signs_in_from_her_own_address_during_the_attack(client: Client, world: World, alice: User,
                                                               door: str) -> None:
    attack(client, DOORS[door])

    assert DOORS[door](client, "alice", PASSWORD, ALICE).status_code == OK[door]


@pytest.mark.parametrize("door", ["token endpoint", "api"])
@pytest.mark.parametrize("ip", [ATTACKER, ELSEWHERE])
def test_the_robots_token_works_from_the_attackers_address_and_any_other(client: Client, world: World,
                                                                         alice: User, door: str, ip: str) -> None:
    attack(client, DOORS[door])

    response = DOORS[door](client, "acme+ci", world.robots["ci"][1], ip)

    assert response.status_code == 200


@pytest.mark.parametrize("username", ["alice", "$token"])
def test_alices_api_token_works_from_the_attackers_address(client: Client, world: World, alice: User,
                                                           username: str) -> None:
    attack(client, token_endpoint)
    secret = make_api_token(alice, "repo:read")

    assert token_endpoint(client, username, secret, ATTACKER).status_code == 200
    assert client.get("/api/v1/user/", HTTP_AUTHORIZATION=f"Bearer {secret}",
                      REMOTE_ADDR=ATTACKER).status_code == 200


def test_guesses_spread_over_many_addresses_hit_the_backstop_but_not_alice(client: Client, world: World,
                                                                          alice: User, settings: Any) -> None:
    settings.WHARF_FAILED_LOGINS_ACCOUNT_BACKSTOP = 20
    for n in range(10):
        for _ in range(3):
            assert token_endpoint(client, "alice", "guess", f"10.7.0.{n}").status_code == 401
    for _ in range(2):   # alice mistypes twice while the attack runs
        assert token_endpoint(client, "alice", "typo", ALICE).status_code == 401

    # Each attacking address is far under its own limit, but it has failed on alice: the backstop refuses it.
    assert token_endpoint(client, "alice", "guess", "10.7.0.0").status_code == 429
    assert token_endpoint(client, "alice", PASSWORD, "10.7.0.1").status_code == 429
    # An address without failures on alice gets its answer: alice in, a stranger's guess counted as wrong.
    assert token_endpoint(client, "alice", PASSWORD, ALICE).status_code == 200
    assert token_endpoint(client, "alice", "guess", ELSEWHERE).status_code == 401
    # The backstop is alice's alone: the attacking addresses may still sign in to other accounts.
    assert token_endpoint(client, "writer", PASSWORD, "10.7.0.0").status_code == 200
