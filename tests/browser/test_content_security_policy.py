"""Under the Content-Security-Policy, in a real Chromium: the pages and the API docs log no violation (nor any
other console error) and what runs on them still works (the copy buttons, Swagger UI, Redoc)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Shot, sign_in
from tests.conftest import LiveServer
from tests.factories import make_repository, make_user
from tests.web.images import make_image

pytestmark = pytest.mark.django_db(transaction=True)
# Playwright's init scripts run outside the page's policy: this one records every violation the page reports.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@dataclass
class Console:
    page: Any
    errors: list[str] = field(default_factory=list)

    def console(self, message: Any) -> None:
        # A failed load is logged without its address: response() reports it with one.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def response(self, response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):   # Wharf has no icon
            self.errors.append(f"{response.status} {response.url}")

    def problems(self) -> list[str]:
        """Console errors and reported violations since the last call (Chromium logs a violation as an error)."""
        found = self.errors + [f"violation: {v}" for v in self.page.evaluate("window.__violations || []")]
        self.errors.clear()
        self.page.evaluate("window.__violations = []")
        return found


@pytest.fixture
def console(page: Any) -> Iterator[Console]:
    watcher = Console(page)
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", watcher.console)
    page.on("response", watcher.response)
    page.on("pageerror", lambda error: watcher.errors.append(f"uncaught: {error}"))
    yield watcher


def visit(page: Any, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")


def test_the_pages_log_no_violation_and_the_copy_button_still_copies(page: Any, console: Console, shot: Shot,
                                                                     live_server_wharf: LiveServer) -> None:
    alice = make_user("alice")
    make_image(make_repository("alice/app"), "v1")

    for path in ("/", "/login/", "/signup/", "/search/"):
        visit(page, path)
        assert console.problems() == [], path
    sign_in(page, alice.username)
    for path in ("/", "/settings/", "/repository/alice/app/", "/repository/alice/app/tags/"):
        visit(page, path)
        assert console.problems() == [], path
    shot("tags")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_wharf.url)
    button = page.locator("tr.tag-row[data-tag=v1] [data-testid=copy-pull]")
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"podman pull --tls-verify=false {live_server_wharf.host}/alice/app:v1"
    assert console.problems() == []

    # The policy is in force: markup that slipped into the page could not run a script.
    page.evaluate("""() => { const s = document.createElement("script");
                             s.textContent = "window.injected = true"; document.body.append(s); }""")
    assert page.evaluate("window.injected") is None
    assert [p.split(" ")[:2] for p in console.problems() if p.startswith("violation")] == [
        ["violation:", "script-src-elem"]]


def test_swagger_ui_runs_under_its_own_policy_and_logs_no_violation(page: Any, console: Console,
                                                                    shot: Shot) -> None:
    visit(page, "/api/v1/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Wharf API")
    page.locator(".opblock-tag", has_text="repositories").first.click()
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    shot("swagger")
    assert console.problems() == []


def test_redoc_runs_under_its_own_policy(page: Any, console: Console, shot: Shot) -> None:
    visit(page, "/api/v1/redoc/")

    expect(page.locator("h1").first).to_contain_text("Wharf API")
    shot("redoc")
    # drf-spectacular's Redoc page links Google's web fonts, and Redoc its logo on Redocly's CDN: the policy keeps
    # third parties out (Redoc falls back to the system's fonts). Nothing else may be refused.
    third_parties = ("https://fonts.googleapis.com/", "https://cdn.redoc.ly/")
    assert [p for p in console.problems() if not any(origin in p for origin in third_parties)] == []
