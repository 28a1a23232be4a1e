"""Abuse limits: failed sign-ins per client and per client and account, in fixed windows, without telling
which accounts exist; secrets that are almost right are as wrong as any other. (That nobody can aim them at
someone else's account: test_lockout_aim.py.)"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from portal import throttle
from portal.accounts import credentials
from portal.accounts.models import Throttle
from portal.audit.models import LogEntry
from portal.errors import AuthenticationFailed, Throttled
from tests.auth.conftest import World
from tests.factories import PASSWORD, make_api_token

pytestmark = pytest.mark.usefixtures("fast_hashes")

WINDOW = 60
PER_ACCOUNT = 3
PER_CLIENT = 5


class Clock:
    """Stands in for the time module inside portal.throttle, so windows pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000 * WINDOW + 7.0   # 7 s into a window

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture(autouse=True)
def limits(settings: Any, clock: Clock) -> Iterator[None]:
    settings.WHARF_FAILED_LOGIN_WINDOW = WINDOW
    settings.WHARF_FAILED_LOGINS_PER_ACCOUNT = PER_ACCOUNT
    settings.WHARF_FAILED_LOGINS_PER_CLIENT = PER_CLIENT
    yield




def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def sign_in(client: Client, username: str, secret: str, ip: str = "10.0.0.1") -> Any:
    return client.get("/v2/auth?service=wharf&scope=repository:acme/app:pull",
                      HTTP_AUTHORIZATION=basic(username, secret), REMOTE_ADDR=ip)


def answer(response: Any) -> tuple[int, bytes, str | None]:
    return response.status_code, response.content, response.headers.get("Retry-After")


def fail(client: Client, username: str, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert sign_in(client, username, "wrong password", ip).status_code == 401


# --- per account --------------------------------------------------------------------------------------------------

def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(client: Client, world: World,
                                                                                 clock: Clock) -> None:
    fail(client, "writer", PER_ACCOUNT)

    response = sign_in(client, "writer", PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"] == str(WINDOW - 7)
    assert response.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert "token" not in response.json()


def test_the_last_allowed_attempt_still_gets_through(client: Client, world: World) -> None:
    fail(client, "writer", PER_ACCOUNT - 1)

    assert sign_in(client, "writer", PASSWORD).status_code == 200


def test_an_accounts_failures_from_other_clients_do_not_refuse_a_client_without_any(client: Client,
                                                                                      world: World) -> None:
    for n in range(PER_ACCOUNT):
        fail(client, "writer", 1, ip=f"10.0.1.{n}")

    assert sign_in(client, "writer", PASSWORD, ip="10.9.9.9").status_code == 200
    assert sign_in(client, "reader", PASSWORD, ip="10.0.1.0").status_code == 200


def test_the_account_counts_whatever_its_case(client: Client, world: World) -> None:
    fail(client, "Writer", 1)
    fail(client, "WRITER", 1)
    fail(client, "writer", 1)

    assert sign_in(client, "writer", PASSWORD).status_code == 429


def test_an_existing_and_a_missing_account_are_throttled_alike(client: Client, world: World) -> None:
    def story(username: str, ip: str) -> list[tuple[int, bytes, str | None]]:
        return [answer(sign_in(client, username, "wrong password", ip)) for _ in range(PER_ACCOUNT + 2)]

    existing, missing = story("writer", "10.0.2.1"), story("no-such-user", "10.0.2.2")

    assert existing == missing
    assert [status for status, _, _ in existing] == [401] * PER_ACCOUNT + [429, 429]


def test_throttled_attempts_are_not_counted_again_and_the_window_ends(client: Client, world: World,
                                                                      clock: Clock) -> None:
    fail(client, "writer", PER_ACCOUNT)
    for _ in range(20):
        assert sign_in(client, "writer", PASSWORD).status_code == 429

    clock.now += WINDOW - 7 - 1
    assert sign_in(client, "writer", PASSWORD)["Retry-After"] == "1"
    clock.now += 1

    assert sign_in(client, "writer", PASSWORD).status_code == 200


def test_failures_in_an_earlier_window_do_not_add_up(client: Client, world: World, clock: Clock) -> None:
    fail(client, "writer", PER_ACCOUNT - 1)
    clock.now += WINDOW

    fail(client, "writer", PER_ACCOUNT - 1)

    assert sign_in(client, "writer", PASSWORD).status_code == 200
    assert Throttle.objects.get(key="account:writer").failures == PER_ACCOUNT - 1


def test_successful_sign_ins_are_not_counted(client: Client, world: World) -> None:
    for _ in range(PER_CLIENT + 1):
        assert sign_in(client, "writer", PASSWORD).status_code == 200

    assert not Throttle.objects.exists()


# --- per client ---------------------------------------------------------------------------------------------------

def test_a_client_spraying_many_accounts_is_throttled(client: Client, world: World) -> None:
    for n in range(PER_CLIENT):
        fail(client, f"guess{n}", 1, ip="10.0.3.1")

    assert sign_in(client, "writer", PASSWORD, ip="10.0.3.1").status_code == 429
    assert sign_in(client, "writer", PASSWORD, ip="10.0.3.2").status_code == 200


@pytest.mark.parametrize("kind", ["robot", "api token"])
def test_wrong_robot_and_api_tokens_count_against_the_client_but_the_right_one_works(client: Client, world: World,
                                                                                      kind: str) -> None:
    if kind == "robot":
        username, good, bad = "acme+ci", world.robots["ci"][1], "wharf_robot_wrong"
    else:
        username, good, bad = "writer", make_api_token(world.users["writer"], "repo:read"), "wharf_pat_wrong"
    for _ in range(PER_CLIENT):
        assert sign_in(client, username, bad).status_code == 401

    assert sign_in(client, username, bad).status_code == 429
    assert sign_in(client, "reader", PASSWORD).status_code == 429   # the client is refused everything else
    assert sign_in(client, username, good).status_code == 200


def test_token_usernames_share_no_account_bucket(client: Client, world: World) -> None:
    """Everyone's API tokens arrive as `$token`: one person's mistakes must not lock out the others."""
    mine = make_api_token(world.users["writer"], "repo:read")
    for n in range(PER_ACCOUNT + 1):
        assert sign_in(client, "$token", "wharf_pat_wrong", ip=f"10.0.4.{n}").status_code == 401

    assert sign_in(client, "$token", mine, ip="10.0.5.1").status_code == 200
    # The client limit still holds for a client that keeps failing with `$token`.
    fail(client, "$token", PER_CLIENT, ip="10.0.6.1")
    assert sign_in(client, "$token", "wharf_pat_wrong", ip="10.0.6.1").status_code == 429


def test_the_password_grant_is_throttled_too(client: Client, world: World) -> None:
    form = {"grant_type": "password", "username": "writer", "service": "wharf", "client_id": "t"}
    for _ in range(PER_ACCOUNT):
        assert client.post("/v2/auth", {**form, "password": "wrong"}).status_code == 401

    response = client.post("/v2/auth", {**form, "password": PASSWORD})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


# --- through credentials.authenticate, as the API and the pages call it -------------------------------------------

def test_authenticate_raises_throttled_with_the_seconds_to_wait(world: World, clock: Clock) -> None:
    client = "10.0.7.1"
    for _ in range(PER_ACCOUNT):
        with pytest.raises(AuthenticationFailed) as refused:
            credentials.authenticate(client, "writer", "wrong")
        assert refused.value.message == credentials.INCORRECT

    with pytest.raises(Throttled) as throttled:
        credentials.authenticate(client, "writer", PASSWORD)

    assert throttled.value.retry_after == WINDOW - 7
    assert throttled.value.status == 429


def test_authenticate_without_a_request_still_counts_its_failures(world: World) -> None:
    for _ in range(PER_ACCOUNT):
        with pytest.raises(AuthenticationFailed):
            credentials.authenticate(None, "writer", "wrong")

    with pytest.raises(Throttled):
        credentials.authenticate(None, "writer", PASSWORD)


def test_each_failure_is_audited_with_the_name_typed_and_the_client(client: Client, world: World) -> None:
    fail(client, "writer", 1, ip="10.0.8.1")
    fail(client, "no-such-user", 1, ip="10.0.8.2")

    entries = list(LogEntry.objects.filter(kind="login_failed").order_by("id").values_list(
        "target", "client_ip", "actor_kind"))
    assert entries == [("writer", "10.0.8.1", "anonymous"), ("no-such-user", "10.0.8.2", "anonymous")]


# --- almost-right secrets ------------------------------------------------------------------------------------------

def _near_misses(secret: str) -> list[str]:
    flip = {"A": "B"}.get(secret[-1], "A")
    return [
        secret[:-1] + flip,                                  # the last character
        ("B" if secret[12] == "A" else "A").join([secret[:12], secret[13:]]),   # one in the middle
        secret[:-1],                                         # a prefix
        secret + "A",                                        # longer
        secret + " ",                                        # trailing space
        secret.upper(),
        "",
    ]


def test_a_robot_token_off_by_anything_is_refused(world: World) -> None:
    _, secret = world.robots["ci"]
    assert credentials.authenticate(None, "acme+ci", secret).username == "acme+ci"

    for near in _near_misses(secret):
        with pytest.raises(AuthenticationFailed):
            credentials.authenticate(None, "acme+zz", secret)   # right token, wrong robot
        with pytest.raises(AuthenticationFailed):
            credentials.authenticate(f"10.1.{len(near)}.1", "acme+ci", near)
        Throttle.objects.all().delete()


def test_an_api_token_off_by_anything_is_refused(world: World) -> None:
    secret = make_api_token(world.users["writer"], "repo:read")
    assert credentials.api_token_principal(secret) is not None

    for near in _near_misses(secret):
        assert credentials.api_token_principal(near) is None
        with pytest.raises(AuthenticationFailed):
            credentials.authenticate(None, "writer", near)
        Throttle.objects.all().delete()


def test_a_password_off_by_anything_is_refused(world: World) -> None:
    for near in [PASSWORD[:-1], PASSWORD + " ", PASSWORD.upper()]:
        with pytest.raises(AuthenticationFailed):
            credentials.authenticate(None, "writer", near)
