"""A running build's page in a real browser: lines the worker writes appear without a reload, within about two
seconds; when the build ends the status changes, the page says so and stops asking for more."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from builds.logs import LogWriter, Masker
from builds.models import Build, BuildStatus
from tests.browser.conftest import Shot, sign_in
from tests.builds.factories import make_build
from tests.factories import make_repository, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_log_of_a_running_build_appears_live_and_polling_stops_when_it_ends(page: Any, shot: Shot) -> None:
    make_user("alice")
    build = make_build(make_repository("alice/app"), status=BuildStatus.RUNNING, phase="building",
                       started_at=timezone.now(), log=["STEP 1/2: FROM scratch"])
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/log/?start=" in request.url else None)
    sign_in(page, "alice")
    page.goto(f"/repository/alice/app/builds/{build.pk}/")
    log = page.get_by_test_id("build-log")
    expect(log).to_contain_text("STEP 1/2: FROM scratch")
    page.evaluate("window.notReloaded = true")

    writer = LogWriter(build.pk, Masker(), first_line=build.log_lines, written_bytes=build.log_bytes)
    writer.line("STEP 2/2: COPY hello /hello")
    writer.flush()
    written = time.monotonic()
    expect(log).to_contain_text("STEP 2/2: COPY hello /hello", timeout=2500)
    assert time.monotonic() - written < 2.5
    expect(page.get_by_test_id("build-status")).to_have_text("Running")
    shot("running")

    writer.line("COMMIT localhost/alice/app:latest")
    writer.flush()
    Build.objects.filter(pk=build.pk).update(status=BuildStatus.COMPLETE, finished_at=timezone.now())

    expect(page.get_by_test_id("build-status")).to_have_text("Complete", timeout=3000)
    expect(page.get_by_test_id("build-ended")).to_be_visible()
    expect(page.get_by_test_id("cancel-build")).to_be_hidden()
    expect(log).to_contain_text("COMMIT localhost/alice/app:latest")
    assert page.evaluate("window.notReloaded") is True
    asked = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == asked, "the page kept polling a finished build"
    assert log.inner_text().count("STEP 2/2") == 1   # no line shown twice
    shot("ended")
