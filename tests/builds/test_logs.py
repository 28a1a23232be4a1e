"""A build's log: lines stored in order as they come, secrets masked, cut at the cap with a note, read from any
line on."""

from __future__ import annotations

import threading

import pytest

from builds.logs import MASK, LogWriter, Masker, full_text, read
from builds.models import BuildStatus
from tests.builds.factories import make_build
from tests.factories import make_repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def build():  # type: ignore[no-untyped-def]
    return make_build(make_repository("alice/app"), status=BuildStatus.RUNNING)


def test_secrets_are_masked_wherever_they_appear(build) -> None:  # type: ignore[no-untyped-def]
    writer = LogWriter(build.pk, Masker(["ghp_tokenvalue123", "eyJhbGciOi.payload.sig", "on"]))
    writer.line("cloning with ghp_tokenvalue123 and a token eyJhbGciOi.payload.sig")
    writer.line("turned on")   # too short to be a secret: ordinary words stay readable
    writer.flush()
    assert full_text(build) == f"cloning with {MASK} and a token {MASK}\nturned on\n"


def test_the_log_is_cut_at_its_cap_with_a_note_and_the_build_goes_on(build) -> None:  # type: ignore[no-untyped-def]
    writer = LogWriter(build.pk, Masker(), limit=1000)
    for number in range(100):
        writer.line(f"line {number:03d} " + "x" * 40)
    writer.flush()
    build.refresh_from_db()
    text = full_text(build)
    assert build.log_truncated and len(text.encode()) <= 1000 + 200
    assert text.splitlines()[-1].startswith("… the log is cut here") and "line 000" in text
    assert build.log_lines == len(text.splitlines())


@pytest.mark.django_db(transaction=True)   # the threads write through connections of their own
def test_lines_from_several_threads_are_all_kept_in_one_order(build) -> None:  # type: ignore[no-untyped-def]
    writer = LogWriter(build.pk, Masker())

    def write(name: str) -> None:
        for number in range(300):
            writer.line(f"{name} {number}")

    threads = [threading.Thread(target=write, args=(name,)) for name in ("out", "err")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    lines = full_text(build).splitlines()
    assert len(lines) == 600 and len(set(lines)) == 600
    assert [line for line in lines if line.startswith("out")] == [f"out {n}" for n in range(300)]


def test_reading_from_a_line_returns_what_follows_and_says_whether_more_can_come(build) -> None:  # type: ignore[no-untyped-def]
    writer = LogWriter(build.pk, Masker())
    for number in range(2500):
        writer.line(f"l{number}")
    writer.flush()
    page = read(build, 1998, limit=5)
    assert page.lines == ["l1998", "l1999", "l2000", "l2001", "l2002"] and page.next == 2003
    assert not page.finished
    build.status = BuildStatus.COMPLETE
    build.save()
    tail = read(build, 2499)
    assert tail.lines == ["l2499"] and tail.finished
    assert read(build, 5000).lines == []


@pytest.mark.django_db(transaction=True)   # the heartbeat writes through a connection of its own
def test_the_last_line_before_a_quiet_step_reaches_the_page_within_a_second(build) -> None:  # type: ignore[no-untyped-def]
    import time

    from builds.runner import Heartbeat

    writer = LogWriter(build.pk, Masker())
    heartbeat = Heartbeat(build.pk, writer)
    heartbeat.start()
    try:
        writer.line("STEP 4/6: RUN sleep 600")
        writer.line("started")   # within FLUSH_SECONDS of the line before: it waits in the writer
        deadline = time.monotonic() + 1
        while "started" not in full_text(build) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert full_text(build).endswith("started\n")
    finally:
        heartbeat.stop()
