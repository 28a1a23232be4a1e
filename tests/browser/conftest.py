"""Headless Chromium (Debian's, driven by Playwright) against a live Wharf; one browser per session.

Each test gets a fresh browser context (no cookies shared) and commits its data (transaction=True) so
that the live server sees it. Screenshots go to test-artifacts/screenshots/<test>-<step>.png.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.builds.conftest import git_repository  # noqa: F401 (a fixture: the build flow's git repository)
from tests.conftest import ARTIFACTS, LiveServer, require_tool
from tests.factories import PASSWORD

SCREENSHOTS = ARTIFACTS / "screenshots"
HOME = re.compile(r"^https?://[^/]+/$")   # the home page; "**/" would also match the page we are leaving
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
Shot = Callable[[str], None]



@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests, closed when they are done (package scope, not session: while it
    runs, Playwright's event loop sits on the main thread, and later tests must not find it there)."""
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    # Django refuses ORM calls from a thread with a running event loop; the tests' own ORM calls (factories,
    # assertions, the database flush) are plain synchronous code beside Playwright's loop, so allow them.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                                  args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def page(browser: Any, live_server_wharf: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server_wharf.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Shot:
    """shot("step") saves the whole page as test-artifacts/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name.removeprefix("test_"))

    def save(step: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{test}-{step}.png"), full_page=True)
    return save


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(HOME)
