"""How an event's deliveries reach the queue: one broker message per event, which a worker splits into one
attempt per delivery (so a push with ten notifications pays for one send, bench/notifybench.py)."""

from __future__ import annotations

from typing import Any

from notifications import delivery, tasks


def _recording(monkeypatch: Any, module: str) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(f"notifications.{module}.enqueue",
                        lambda task, arg: sent.append((getattr(task, "name", task), arg)) or True)
    return sent


def test_an_event_with_many_deliveries_is_one_broker_message(monkeypatch):
    sent = _recording(monkeypatch, "delivery")

    delivery.send([4, 5, 6])

    assert sent == [("notifications.tasks.deliver_each", [4, 5, 6])]


def test_a_single_delivery_goes_straight_to_its_attempt(monkeypatch):
    sent = _recording(monkeypatch, "delivery")

    delivery.send([7])
    delivery.send([])

    assert sent == [("notifications.tasks.deliver", 7)]


def test_the_worker_splits_the_message_into_one_attempt_per_delivery(monkeypatch):
    sent = _recording(monkeypatch, "tasks")

    tasks.deliver_each([4, 5, 6])

    assert sent == [("notifications.tasks.deliver", 4), ("notifications.tasks.deliver", 5),
                    ("notifications.tasks.deliver", 6)]
