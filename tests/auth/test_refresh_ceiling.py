"""A refresh token with a ceiling (what a build's worker pushes with) gets no more than the ceiling, however
much its credential holds, and no more than the credential, however much the ceiling names; podman's OAuth2
form repeats `scope`, and every one of them is answered."""

from __future__ import annotations

import pytest
from django.test import Client

from registry_api import tokens
from tests.auth.conftest import World
from tests.auth.test_token_endpoint import claims_of, post_token

pytestmark = pytest.mark.usefixtures("fast_hashes")

BUILD_CEILING = {"acme/app": ["pull", "push"], "*": ["pull"]}


def exchange(client: Client, refresh: str, *scopes: str) -> dict[str, list[str]]:
    form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", "wharf")]
    form += [("scope", scope) for scope in scopes]
    from urllib.parse import urlencode

    response = client.post("/v2/auth", urlencode(form), content_type="application/x-www-form-urlencoded")
    return {entry["name"]: entry["actions"] for entry in claims_of(response)["access"]}


def test_the_owner_of_everything_gets_push_only_on_the_builds_repository(client: Client, world: World) -> None:
    owner = world.users["owner"]
    refresh = tokens.issue_refresh("owner", f"user:{owner.pk}", ttl=600, ceiling=BUILD_CEILING)
    granted = exchange(client, refresh, "repository:acme/app:pull,push,delete",
                       "repository:acme/vault:pull,push", "repository:acme/site:push,pull")
    assert granted == {"acme/app": ["pull", "push"], "acme/vault": ["pull"], "acme/site": ["pull"]}


def test_the_ceiling_never_adds_what_the_credential_lacks(client: Client, world: World) -> None:
    reader = world.users["reader"]
    refresh = tokens.issue_refresh("reader", f"user:{reader.pk}", ttl=600, ceiling=BUILD_CEILING)
    assert exchange(client, refresh, "repository:acme/app:pull,push", "repository:acme/vault:pull") == {
        "acme/app": ["pull"], "acme/vault": []}


def test_a_space_joined_scope_in_the_form_is_read_too(client: Client, world: World) -> None:
    owner = world.users["owner"]
    refresh = tokens.issue_refresh("owner", f"user:{owner.pk}")
    response = post_token(client, grant_type="refresh_token", refresh_token=refresh,
                          scope="repository:acme/app:pull repository:acme/site:pull")
    assert {entry["name"] for entry in claims_of(response)["access"]} == {"acme/app", "acme/site"}


def test_a_ceiling_lives_only_as_long_as_its_ttl(world: World) -> None:
    refresh = tokens.issue_refresh("owner", f"user:{world.users['owner'].pk}", ttl=-1, ceiling=BUILD_CEILING)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_refresh_claims(refresh)
