"""What builds tell the rest of Wharf (notifications listens): one signal, sent after the change has committed.

build_event: sender=Build, build=the Build row (as it was when the event happened), event= one of EVENTS."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from builds.models import Build

build_event = Signal()

QUEUED, STARTED, SUCCEEDED, FAILED, CANCELLED = (
    "build_queued", "build_started", "build_succeeded", "build_failed", "build_cancelled")
EVENTS = (QUEUED, STARTED, SUCCEEDED, FAILED, CANCELLED)


def send(build: Build, event: str) -> None:
    """Send `event` for `build` once the current transaction (if any) has committed; a listener that fails is
    logged by Django's robust sending, never the build's problem."""
    assert event in EVENTS, event

    def fire() -> None:
        build_event.send_robust(sender=Build, build=build, event=event)

    transaction.on_commit(fire)
