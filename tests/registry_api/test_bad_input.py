"""Odd requests get the spec's errors, never a server error."""

from __future__ import annotations

import pytest

from tests.factories import bearer, make_repository


@pytest.mark.django_db
@pytest.mark.parametrize("n", ["%C2%B2", "-1", "1e3", "99999999999999999999999"])
def test_a_page_size_that_is_not_a_small_number_is_refused(client, alice, n):
    make_repository("alice/app")

    response = client.get(f"/v2/alice/app/tags/list?n={n}", HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "pull")))

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


@pytest.mark.django_db
def test_a_name_with_control_characters_gets_a_plain_challenge(client):
    response = client.get("/v2/a%0d%0ab/x/tags/list")

    assert response.status_code == 401
    assert "scope" not in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_a_method_an_endpoint_does_not_serve_is_405_with_allow(client, alice):
    make_repository("alice/app")

    response = client.delete("/v2/alice/app/tags/list", HTTP_AUTHORIZATION=bearer("alice", ("alice/app", "*")))

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert response["Allow"] == "GET"
