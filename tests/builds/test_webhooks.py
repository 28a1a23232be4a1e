"""POST /webhooks/git/<trigger>/: signed pushes queue one build each; everything else is answered with the
reason and builds nothing. The broker is real (Redis, or the embedded filesystem broker in the SQLite pass)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import current_app

from builds.models import Build, BuildStatus, Delivery
from tests.builds.factories import SECRET, make_trigger
from tests.factories import make_repository, make_user

SHA = "a" * 40


def push_payload(ref: str = "refs/heads/main", sha: str = SHA, message: str = "Fix the thing",
                 **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "before": "0" * 40, "after": sha, "repository": {"full_name": "acme/app"},
            "head_commit": {"id": sha, "message": message, "author": {"name": "Ada", "email": "ada@example.com"}},
            **extra}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(client: Any, trigger_id: int, payload: Any = None, *, body: bytes | None = None,
            event: str = "push", delivery: str | None = None, signature: str | None = None,
            headers: dict[str, str] | None = None) -> Any:
    if body is None:
        body = json.dumps(payload if payload is not None else push_payload()).encode()
    meta = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": sign(body) if signature is None else signature, **(headers or {})}
    meta = {k: v for k, v in meta.items() if v != ""}
    return client.post(f"/webhooks/git/{trigger_id}/", data=body, content_type="application/json", **meta)


@pytest.fixture
def trigger(db):  # type: ignore[no-untyped-def]
    owner = make_user("alice")
    repository = make_repository("alice/app")
    return make_trigger(repository, created_by=owner, default_branch="main")


def test_a_signed_push_queues_one_build_with_the_templated_tags(client, trigger) -> None:
    response = deliver(client, trigger.pk, delivery="d-1")
    assert response.status_code == 201, response.content
    build = Build.objects.get(pk=response.json()["build"])
    assert build.status == BuildStatus.QUEUED
    assert build.trigger_id == trigger.pk and build.commit_sha == SHA and build.ref == "refs/heads/main"
    assert build.tags == ["main", SHA[:7], "latest"]
    assert build.commit_message == "Fix the thing" and build.commit_author == "Ada" and build.delivery_id == "d-1"
    assert build.credential.startswith(f"user:{trigger.created_by_id}")
    assert Delivery.objects.get(trigger=trigger).build_id == build.pk


def test_a_redelivery_or_the_same_commit_again_builds_nothing_new(client, trigger) -> None:
    assert deliver(client, trigger.pk, delivery="d-1").status_code == 201
    again = deliver(client, trigger.pk, delivery="d-1")
    assert again.status_code == 200 and "Already delivered" in again.json()["outcome"]
    other = deliver(client, trigger.pk, push_payload(ref="refs/tags/v1.0"), delivery="d-2")
    assert other.status_code == 200 and "Already built" in other.json()["outcome"]
    assert Build.objects.count() == 1


def test_a_tag_push_uses_the_tag_and_not_latest(client, trigger) -> None:
    response = deliver(client, trigger.pk, push_payload(ref="refs/tags/v1.2", sha="b" * 40))
    assert Build.objects.get(pk=response.json()["build"]).tags == ["bbbbbbb"]


@pytest.mark.parametrize("event, payload, status, says", [
    ("ping", {"zen": "Keep it logically awesome."}, 200, "pong"),
    ("pull_request", push_payload(), 202, "only push events"),
    ("push", push_payload(ref="refs/heads/feature"), 202, "does not match the filter"),
    ("push", push_payload(message="Docs only [skip build]"), 202, "asks not to build"),
    ("push", push_payload(message="wip [ci skip]"), 202, "asks not to build"),
    ("push", push_payload(sha="0" * 40), 202, "deleted"),
    ("push", push_payload(ref="refs/pull/1/head"), 202, "neither a branch nor a tag"),
])
def test_what_is_not_a_build_is_answered_with_the_reason(client, trigger, event, payload, status, says) -> None:
    trigger.ref_filter = r"^refs/(heads/main|tags/.*)$"
    trigger.save()
    response = deliver(client, trigger.pk, payload, event=event)
    assert response.status_code == status, response.content
    assert says in response.json()["outcome"]
    assert not Build.objects.exists()
    assert Delivery.objects.get(trigger=trigger).status_code == status


def _resigned_json(body: bytes) -> str:
    return sign(json.dumps(json.loads(body), indent=2).encode())


@pytest.mark.parametrize("case", ["missing", "wrong", "sha1 only", "over re-serialised JSON",
                                  "another trigger's secret", "no prefix"])
def test_bad_signatures_are_refused_before_anything_is_parsed(client, trigger, case) -> None:
    body = json.dumps(push_payload()).encode()
    headers: dict[str, str] = {}
    signature = {
        "missing": "",
        "wrong": sign(body + b" "),
        "sha1 only": "",
        "over re-serialised JSON": _resigned_json(body),
        "another trigger's secret": sign(body, "another-secret-0123456789"),
        "no prefix": sign(body).removeprefix("sha256="),
    }[case]
    if case == "sha1 only":
        headers["HTTP_X_HUB_SIGNATURE"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = deliver(client, trigger.pk, body=body, signature=signature, headers=headers)
    assert response.status_code == 401
    assert not Build.objects.exists()
    if case == "sha1 only":
        assert "X-Hub-Signature-256" in response.json()["outcome"]


def test_a_bad_signature_with_a_malformed_body_is_still_a_signature_failure(client, trigger) -> None:
    response = deliver(client, trigger.pk, body=b"{not json", signature=sign(b"something else"))
    assert response.status_code == 401


def test_unknown_disabled_and_malformed_are_refused(client, trigger) -> None:
    assert deliver(client, trigger.pk + 1000).status_code == 404
    malformed = deliver(client, trigger.pk, body=b"{not json")
    assert malformed.status_code == 400 and "not JSON" in malformed.json()["outcome"]
    no_ref = deliver(client, trigger.pk, {"zen": "hello"})
    assert no_ref.status_code == 400
    trigger.enabled, trigger.disabled_reason = False, "Disabled after 5 failed builds in a row"
    trigger.save()
    disabled = deliver(client, trigger.pk)
    assert disabled.status_code == 409 and "5 failed builds" in disabled.json()["outcome"]
    assert not Build.objects.exists()


def test_a_body_over_25_mb_is_refused_with_413(client, trigger) -> None:
    body = b"x" * (25 * 1024 * 1024 + 1)
    response = deliver(client, trigger.pk, body=body)
    assert response.status_code == 413
    assert not Build.objects.exists()


def test_a_get_is_not_a_delivery(client, trigger) -> None:
    response = client.get(f"/webhooks/git/{trigger.pk}/")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_the_form_encoded_payload_github_can_send_is_read(client, trigger) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(push_payload())}).encode()
    response = client.post(f"/webhooks/git/{trigger.pk}/", data=body,
                           content_type="application/x-www-form-urlencoded",
                           HTTP_X_GITHUB_EVENT="push", HTTP_X_HUB_SIGNATURE_256=sign(body))
    assert response.status_code == 201, response.content


def test_past_the_queue_limit_a_push_gets_429_and_no_build(client, trigger, settings) -> None:
    settings.WHARF_BUILD_QUEUE_LIMIT = 1
    assert deliver(client, trigger.pk).status_code == 201
    response = deliver(client, trigger.pk, push_payload(sha="c" * 40))
    assert response.status_code == 429 and response["Retry-After"]
    assert Build.objects.count() == 1


@contextmanager
def broker_down() -> Iterator[None]:
    """The app's broker pointed at a port nothing listens on, its connection pools dropped (both ways)."""
    conf = current_app.conf
    saved = conf.broker_url, conf.broker_transport

    def reset() -> None:   # dropped, not closed: kombu keeps the real broker's pool for the other tests
        current_app._pool = None
        current_app.amqp._producer_pool = None

    conf.broker_url, conf.broker_transport = "redis://127.0.0.1:1/0", None
    reset()
    try:
        yield
    finally:
        conf.broker_url, conf.broker_transport = saved
        reset()


def test_a_broker_that_is_down_answers_503_and_the_redelivery_builds(client, trigger) -> None:
    with broker_down():
        down = deliver(client, trigger.pk, delivery="d-9")
    assert down.status_code == 503, down.content
    assert not Build.objects.exists()
    redelivered = deliver(client, trigger.pk, delivery="d-9")
    assert redelivered.status_code == 201
    assert Build.objects.count() == 1


def test_a_trigger_whose_creator_is_gone_still_records_the_build_which_says_why_it_cannot_push(client, trigger):
    trigger.created_by = make_user("bob")   # an admin of alice/app who has since left
    trigger.save()
    trigger.created_by.delete()
    response = deliver(client, trigger.pk)
    assert response.status_code == 201
    assert Build.objects.get().credential == ""
