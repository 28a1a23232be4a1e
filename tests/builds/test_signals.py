"""Builds announce themselves (build_event, after commit): queued, started, then succeeded, failed or cancelled."""

from __future__ import annotations

from typing import Any

import pytest

from builds import signals
from builds.models import BuildStatus
from builds.runner import _finish, claim
from builds.services import Source, cancel_build, queue_build, transition
from portal.accounts.credentials import user_principal
from tests.factories import make_repository, make_user


@pytest.fixture
def heard(monkeypatch) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    events: list[tuple[int, str]] = []

    def listen(sender: Any, build: Any, event: str, **_: Any) -> None:
        events.append((build.pk, event))

    signals.build_event.connect(listen, dispatch_uid="test-listener")
    monkeypatch.setattr("builds.services.send", lambda build: True)   # no broker needed to record events
    yield events
    signals.build_event.disconnect(dispatch_uid="test-listener")


def _queue(user: Any) -> Any:
    import io

    return queue_build(make_repository("alice/app"), user_principal(user),
                       Source(kind="dockerfile", upload=io.BytesIO(b"FROM scratch\n"), upload_name="Dockerfile"))


@pytest.mark.django_db(transaction=True)
def test_a_build_announces_queued_started_and_its_end(heard) -> None:  # type: ignore[no-untyped-def]
    build = _queue(make_user("alice"))
    assert claim(build.pk) is not None
    transition(build.pk, BuildStatus.PUSHING)
    _finish(build, BuildStatus.COMPLETE, "")
    assert heard == [(build.pk, "build_queued"), (build.pk, "build_started"), (build.pk, "build_succeeded")]


@pytest.mark.django_db(transaction=True)
def test_a_failed_and_a_cancelled_build_say_so(heard) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    failing = _queue(alice)
    claim(failing.pk)
    _finish(failing, BuildStatus.TIMED_OUT, "it ran past its time limit")
    cancelled = queue_build(failing.repository, user_principal(alice),
                            Source(kind="dockerfile", upload=__import__("io").BytesIO(b"FROM scratch\n"),
                                   upload_name="Dockerfile"))
    cancel_build(cancelled, user_principal(alice))
    assert [event for _, event in heard] == ["build_queued", "build_started", "build_failed", "build_queued",
                                             "build_cancelled"]
