"""JSON bodies built to exhaust the parser get the API's 400, never a 500."""

from __future__ import annotations

import json

import pytest

from portal.repositories.models import Repository
from tests.api.conftest import as_user, error_of

API = "/api/v1/repositories/"


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 50_000 + b"]" * 50_000],
                         ids=["open-brackets", "open-objects", "balanced"])
def test_json_nested_a_hundred_thousand_deep_is_a_400_in_the_error_envelope(alice, body):
    response = as_user(alice).generic("POST", API, body, content_type="application/json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "nests deeper than 32 levels" in error["message"]
    assert not Repository.objects.exists()


def test_a_body_nested_just_past_the_limit_is_refused(alice):
    value: object = "app"
    for _ in range(32):   # the body's object is the first level
        value = [value]

    response = as_user(alice).post(API, {"namespace": "alice", "name": value}, format="json")

    assert response.status_code == 400
    assert "nests deeper than 32 levels" in error_of(response)["message"]


def test_an_ordinary_body_still_parses(alice):
    body = json.dumps({"namespace": "alice", "name": "app", "description": "[[[{{{ not structure"}).encode()

    response = as_user(alice).generic("POST", API, body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert Repository.objects.get().description == "[[[{{{ not structure"
