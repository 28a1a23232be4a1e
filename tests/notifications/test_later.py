"""The production path of an event (WHARF_NOTIFY_FANOUT_INLINE off): the push hands it to a worker as one
message and writes no delivery itself; the worker's fan_out writes and sends them. A repository without
notifications costs its pushes nothing once a process has asked."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import events, later, tasks
from notifications.models import Delivery
from tests.factories import make_repository, make_user
from tests.notifications.pushing import webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def deferred(settings, monkeypatch) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_FANOUT_INLINE, settings.WHARF_NOTIFY_CACHE_SECONDS = False, 60
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr("portal.broker.enqueue",
                        lambda task, *args: sent.append((getattr(task, "name", task), *args)) or True)
    later.forget()
    yield sent
    later.forget()


def test_an_event_leaves_as_one_message_and_the_worker_writes_the_deliveries(deferred) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    for number in range(10):
        webhook(repository, alice, f"http://127.0.0.1:9/hook{number}")
    event = events.RepoPush(repository="alice/app", occurred_at=timezone.now(), tags=["v1"],
                            digest="sha256:" + "a" * 64, media_type="application/vnd.oci.image.manifest.v1+json",
                            pusher="alice", client="podman/4.3")

    with CaptureQueriesContext(connection) as queries:
        later.send(event, repository.pk)
    assert len(queries) == 0 and not Delivery.objects.exists()
    deadline = time.monotonic() + 5   # the process's sender thread sends it at once
    while not deferred and time.monotonic() < deadline:
        time.sleep(0.01)
    later.flush()   # (and a process that stops sends what is left)
    (name, kind, values, repository_id), = deferred
    assert name == "notifications.tasks.fan_out" and kind == "RepoPush"

    ids = tasks.fan_out(kind, values, repository_id)   # what the worker runs
    assert len(ids) == 10
    assert Delivery.objects.get(pk=ids[0]).payload["push"]["tags"] == ["v1"]


def test_a_repository_without_notifications_costs_a_push_one_query_per_process_and_cache_window(deferred) -> None:  # type: ignore[no-untyped-def]
    repository = make_repository("alice/quiet")
    assert later.has_notifications(repository.pk) is False
    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            assert later.has_notifications(repository.pk) is False
    assert len(queries) == 0


def test_making_a_notification_here_is_seen_at_once(deferred) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    assert later.has_notifications(repository.pk) is False
    webhook(repository, alice, "http://127.0.0.1:9/hook")
    assert later.has_notifications(repository.pk) is True


def test_every_event_kind_survives_the_message(deferred) -> None:  # type: ignore[no-untyped-def]
    import json

    for name in ("repo_push", "build_succeeded", "vulnerability_found", "tag_expiring"):
        event = events.example(name, "alice/app")
        kind, values = later.encode(event)
        assert later.decode(kind, json.loads(json.dumps(values))) == event
