"""Pull entries are batched per process (the registry's hottest read path stays free of writes)."""

from __future__ import annotations

import pytest

from portal import audit
from portal.access import Principal
from portal.audit.models import LogEntry
from tests.factories import make_repository, make_user

pytestmark = pytest.mark.django_db


def test_a_pull_entry_is_written_by_the_next_flush_not_at_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_AUDIT_FLUSH_SECONDS = 3600   # the flusher thread will not wake during the test
    alice = make_user("alice")
    repository = make_repository("alice/app")

    audit.record_soon("pull", Principal.for_user(alice), repository=repository, target="v1", digest="sha256:x")
    audit.record_soon("pull", Principal.for_user(alice), repository=repository, target="v2", digest="sha256:y")

    assert not LogEntry.objects.filter(kind="pull").exists()
    assert audit.flush() == 2
    entries = list(LogEntry.objects.filter(kind="pull").order_by("id").values_list("actor", "target", "detail"))
    assert entries == [("alice", "v1", {"digest": "sha256:x"}), ("alice", "v2", {"digest": "sha256:y"})]
    assert audit.flush() == 0


def test_with_no_interval_a_pull_entry_is_written_at_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WHARF_AUDIT_FLUSH_SECONDS = 0
    repository = make_repository("acme/app")

    audit.record_soon("pull", Principal(), repository=repository, target="v1")

    assert LogEntry.objects.get(kind="pull").actor_kind == "anonymous"


def test_the_last_flush_waits_for_the_flusher_threads_write_in_progress(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """At exit, the flusher (a daemon thread) may be half-way through a write: the process must not end under
    it, or the entries it took would be lost."""
    import threading

    settings.WHARF_AUDIT_FLUSH_SECONDS = 3600
    repository = make_repository("acme/app")
    audit.record_soon("pull", Principal(), repository=repository, target="v1")
    writing, release, written = threading.Event(), threading.Event(), []

    def slow_write(rows):  # type: ignore[no-untyped-def]
        writing.set()
        release.wait(5)
        written.extend(rows)

    monkeypatch.setattr(audit, "_write", slow_write)
    flusher = threading.Thread(target=audit.flush)
    flusher.start()
    writing.wait(5)
    last = threading.Thread(target=audit.flush)
    last.start()
    last.join(0.2)

    assert last.is_alive()   # waiting for the flusher's write, not returning with nothing to do
    release.set()
    last.join(5)
    flusher.join(5)
    assert len(written) == 1 and not last.is_alive()
