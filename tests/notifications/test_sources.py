"""Builds, scanning and tag expiry reach notifications: a build's events in order, vulnerability_found only at
or above the threshold, tag_expiring once per expiry."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from builds.models import BuildStatus
from builds.runner import _finish, claim
from builds.services import Source, queue_build, transition
from notifications import delivery
from notifications.models import Delivery
from notifications.tasks import announce_expiring_tags
from portal.accounts.credentials import user_principal
from registry_api.models import Tag
from scanning.severity import Severity
from scanning.signals import vulnerability_found
from tests.factories import make_repository, make_user
from tests.notifications.pushing import push, webhook
from tests.notifications.standins import receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_builds_events_arrive_in_order(sent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("builds.services.send", lambda build: True)   # no build worker needed
    alice = make_user("alice")
    repository = make_repository("alice/app")
    with receiver() as hook:
        for event in ("build_queued", "build_started", "build_succeeded", "build_failed"):
            webhook(repository, alice, hook.url, event=event)
        build = queue_build(repository, user_principal(alice),
                            Source(kind="dockerfile", upload=io.BytesIO(b"FROM scratch\n"), upload_name="Dockerfile"))
        claim(build.pk)
        transition(build.pk, BuildStatus.PUSHING)
        _finish(build, BuildStatus.COMPLETE, "")
        for delivery_id in sent:
            delivery.attempt(delivery_id)

        payloads = [r.json() for r in hook.received]
    assert [p["event"] for p in payloads] == ["build_queued", "build_started", "build_succeeded"]
    assert [p["build"]["status"] for p in payloads] == ["queued", "running", "complete"]
    assert {p["build"]["id"] for p in payloads} == {build.pk}
    assert payloads[0]["url"] == f"https://wharf.example/repository/alice/app/builds/{build.pk}/"
    assert payloads[2]["build"]["finished_at"].endswith("Z") and payloads[2]["build"]["started_by"] == "alice"


def _found(repository_id: int, severity: Severity, advisory: str) -> None:
    finding = SimpleNamespace(manifest=SimpleNamespace(digest="sha256:" + "ab" * 32))
    vulnerability_found.send(object, finding=finding, manifest_id=1, repository_id=repository_id, advisory=advisory,
                             merge_key=advisory.replace("DEBIAN-", ""), package="openssl", version="3.0.11-1",
                             severity=severity, fixed_version="3.0.13-1")


def test_vulnerability_found_arrives_once_and_not_below_the_threshold(sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    webhook(repository, alice, "http://127.0.0.1:9/hook", event="vulnerability_found",
            filter={"min_severity": "high"})
    _found(repository.pk, Severity.CRITICAL, "DEBIAN-CVE-2024-0001")
    _found(repository.pk, Severity.MEDIUM, "DEBIAN-CVE-2024-0002")
    _found(repository.pk, Severity.HIGH, "DEBIAN-CVE-2024-0003")

    payloads = [Delivery.objects.get(pk=i).payload for i in sent]
    assert [(p["vulnerability"]["advisory"], p["vulnerability"]["severity"]) for p in payloads] == [
        ("DEBIAN-CVE-2024-0001", "critical"), ("DEBIAN-CVE-2024-0003", "high")]
    assert payloads[0]["vulnerability"]["id"] == "CVE-2024-0001"
    assert payloads[0]["image"] == {"digest": "sha256:" + "ab" * 32}


def test_tag_expiring_is_sent_once_per_expiry(client, sent, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_EXPIRY_DAYS = 3
    alice = make_user("alice")
    repository = make_repository("alice/app")
    webhook(repository, alice, "http://127.0.0.1:9/hook", event="tag_expiring")
    push(client, "alice/app", "soon")
    push(client, "alice/app", "later", layer=b"later")
    now = timezone.now()
    Tag.objects.filter(name="soon").update(expires_at=now + timedelta(days=2))
    Tag.objects.filter(name="later").update(expires_at=now + timedelta(days=10))

    assert announce_expiring_tags(now) == 1
    assert announce_expiring_tags(now + timedelta(hours=1)) == 0           # once per expiry
    Tag.objects.filter(name="soon").update(expires_at=now + timedelta(days=2, hours=5))
    assert announce_expiring_tags(now + timedelta(hours=2)) == 1           # a moved expiry is announced again
    assert announce_expiring_tags(now + timedelta(days=8)) == 1            # "later" comes within three days

    tags = [Delivery.objects.get(pk=i).payload["tag"]["name"] for i in sent]
    assert tags == ["soon", "soon", "later"]
