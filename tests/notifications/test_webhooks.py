"""Webhooks: a push reaches a receiver signed and stamped; replays are detectable; failures are retried with
growing delays (the clock driven by the test), cut at the timeout, and a receiver always down ends disabled."""

from __future__ import annotations

import http.client
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from notifications import delivery, services
from notifications.models import Delivery, DeliveryAttempt, InboxMessage
from portal.access import Principal
from tests.conftest import free_port
from tests.factories import make_repository, make_user
from tests.notifications.pushing import push, webhook
from tests.notifications.standins import receiver, verify

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_push_delivers_repo_push_signed_and_stamped(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    with receiver() as hook:
        created = webhook(repository, alice, hook.url)
        digest = push(client, "alice/app", "v1")
        assert len(sent) == 1 and hook.received == []        # nothing sent inside the push's request
        done = delivery.attempt(sent[0])

        assert done is not None and done.status == "succeeded" and done.last_status_code == 200
        request = hook.received[0]
        assert verify(created.secret, request.headers, request.body, set()) == "ok"
        assert request.headers["X-Wharf-Event"] == "repo_push"
        assert request.headers["X-Wharf-Delivery"] == str(done.delivery_id)
        assert abs(int(request.headers["X-Wharf-Timestamp"]) - time.time()) < 60
        payload = request.json()
        assert payload["schema_version"] == 1 and payload["event"] == "repo_push" and payload["test"] is False
        assert payload["repository"] == {"full_name": "alice/app", "url": "https://wharf.example/repository/alice/app/"}
        assert payload["push"] == {"tags": ["v1"], "digest": digest, "pusher": "alice", "client": "podman/5.4.0",
                                   "media_type": "application/vnd.oci.image.manifest.v1+json"}
        assert payload["occurred_at"].endswith("Z")
        attempt = DeliveryAttempt.objects.get(delivery=done)
        assert (attempt.number, attempt.status_code, attempt.response_excerpt) == (1, 200, "answer 200")


def test_a_push_filtered_out_by_its_tag_pattern_makes_no_delivery(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    webhook(repository, alice, "http://127.0.0.1:9/hook", filter={"tag_glob": "release-*"})
    push(client, "alice/app", "v1")
    push(client, "alice/app", "release-1", layer=b"other")
    assert [Delivery.objects.get(pk=i).payload["push"]["tags"] for i in sent] == [["release-1"]]


def test_a_replayed_delivery_is_detectable_by_its_id(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    repository = make_repository("alice/app")
    seen: set[str] = set()
    with receiver() as hook:
        created = webhook(repository, alice, hook.url)
        push(client, "alice/app", "v1")
        first = delivery.attempt(sent[0])
        original = hook.received[0]
        assert verify(created.secret, original.headers, original.body, seen) == "ok"

        # Someone who captured the request sends it again, byte for byte: the signature holds, the id gives it away.
        parts = urlsplit(hook.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        connection.request("POST", parts.path, body=original.body, headers=original.headers)
        assert connection.getresponse().status == 200
        replay = hook.received[1]
        assert verify(created.secret, replay.headers, replay.body, seen) == "replay"

        # A redelivery from Wharf is a new delivery: a new id, signed anew, accepted.
        assert first is not None
        again = services.redeliver(first, Principal.for_user(alice))
        delivery.attempt(again.pk)
        fresh = hook.received[2]
        assert fresh.headers["X-Wharf-Delivery"] != original.headers["X-Wharf-Delivery"]
        assert verify(created.secret, fresh.headers, fresh.body, seen) == "ok"
        assert fresh.json() == original.json()


def test_a_receiver_failing_twice_gets_three_attempts_with_growing_delays(client, sent) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    with receiver(500, 500, 200) as hook:
        webhook(make_repository("alice/app"), alice, hook.url)
        push(client, "alice/app", "v1")
        now = timezone.now()
        first = delivery.attempt(sent[0], now=now)
        assert first is not None and (first.status, first.attempts) == ("retrying", 1)
        assert delivery.attempt(sent[0], now=now + timedelta(seconds=1)) is None   # not due yet: nothing sent
        second = delivery.attempt(sent[0], now=first.next_attempt_at)
        assert second is not None and (second.status, second.attempts) == ("retrying", 2)
        third = delivery.attempt(sent[0], now=second.next_attempt_at)

        assert third is not None and (third.status, third.attempts, third.last_status_code) == ("succeeded", 3, 200)
        assert len(hook.received) == 3
        assert len({r.headers["X-Wharf-Delivery"] for r in hook.received}) == 1   # the same delivery, retried
        assert first.next_attempt_at is not None and second.next_attempt_at is not None
        delays = [first.next_attempt_at - now, second.next_attempt_at - first.next_attempt_at]
        assert timedelta(seconds=20) < delays[0] < delays[1]
        log = list(DeliveryAttempt.objects.filter(delivery_id=sent[0]).values_list("number", "status_code"))
        assert log == [(1, 500), (2, 500), (3, 200)]


def test_a_receiver_that_hangs_is_cut_at_the_timeout(client, sent, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_TIMEOUT = 1
    alice = make_user("alice")
    with receiver("hang") as hook:
        webhook(make_repository("alice/app"), alice, hook.url)
        push(client, "alice/app", "v1")
        started = time.monotonic()
        attempt = delivery.attempt(sent[0])
        took = time.monotonic() - started

    assert attempt is not None and attempt.status == "retrying"
    assert attempt.error == "timed out after 1 s"
    assert 0.9 < took < 5


def test_a_receiver_always_down_disables_the_notification_and_tells_the_admins(client, sent, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_ATTEMPTS, settings.WHARF_NOTIFY_FAILURES_TO_DISABLE = 2, 2
    alice = make_user("alice")
    make_user("bob")
    created = webhook(make_repository("alice/app"), alice, f"http://127.0.0.1:{free_port()}/down")
    push(client, "alice/app", "v1")
    push(client, "alice/app", "v2", layer=b"two")
    push(client, "alice/app", "v3", layer=b"three")
    first_two, third = sent[:2], sent[2]
    for delivery_id in first_two:
        made = delivery.attempt(delivery_id)
        assert made is not None and made.status == "retrying" and made.error.startswith("ConnectionRefusedError")
    notification = created.notification
    notification.refresh_from_db()
    assert notification.enabled and notification.failing_since is not None   # failing, not yet disabled
    for delivery_id in first_two:
        assert delivery.attempt(delivery_id, now=timezone.now() + timedelta(hours=1)).status == "failed"  # type: ignore[union-attr]

    notification.refresh_from_db()
    assert not notification.enabled and notification.consecutive_failures == 2
    assert notification.disabled_reason == ("Disabled after 2 failed deliveries in a row; fix the receiver and "
                                            "enable it again.")
    assert Delivery.objects.get(pk=third).status == "failed"      # what was still waiting is dropped
    message = InboxMessage.objects.get()
    assert message.user == alice and "was disabled" in message.title and message.read_at is None
    assert services.unread_count(alice) == 1
    push(client, "alice/app", "v4", layer=b"four")
    assert len(sent) == 3                                        # a disabled notification gets nothing
