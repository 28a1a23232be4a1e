"""A real Celery worker on the `default` queue delivers a push's repo_push to a receiver on loopback: the push
writes the delivery after commit and sends its first attempt to the queue; the worker signs and sends it."""

from __future__ import annotations

import time

import pytest

from notifications.models import Delivery
from tests.factories import make_repository, make_user
from tests.notifications.pushing import push, webhook
from tests.notifications.standins import receiver, verify
from tests.workers.celery import start_worker, stop_worker


@pytest.fixture
def default_worker(storage, transactional_db):  # type: ignore[no-untyped-def]
    worker = start_worker(storage.root, "default", "celery-notify.log", env={"WHARF_NOTIFY_ALLOW_PRIVATE": "1"})
    yield worker
    stop_worker(worker)


def test_a_worker_delivers_a_push_to_a_webhook(default_worker, client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True
    settings.WHARF_NOTIFY_FANOUT_INLINE = False   # as deployed: the push hands the event to the worker
    alice = make_user("alice")
    with receiver() as hook:
        created = webhook(make_repository("alice/app"), alice, hook.url)
        digest = push(client, "alice/app", "v1")

        deadline = time.monotonic() + 90
        while not hook.received and time.monotonic() < deadline:
            assert default_worker.poll() is None, "the worker died; see test-artifacts/celery-notify.log"
            time.sleep(0.2)
        assert hook.received, "nothing delivered; see test-artifacts/celery-notify.log"
        request = hook.received[0]
        assert verify(created.secret, request.headers, request.body, set()) == "ok"
        assert request.json()["push"]["digest"] == digest
    deadline = time.monotonic() + 30
    while Delivery.objects.get().status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Delivery.objects.get().status == "succeeded"
