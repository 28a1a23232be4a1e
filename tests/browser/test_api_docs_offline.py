"""The API docs pages in a real browser: Swagger UI and Redoc render, and every request they make goes to Wharf.

The browser reaches Wharf as http://wharf.test, a name that only exists inside the test: each request to it is
answered by the live server, any other is recorded and refused (so the test never touches the internet). A name
other than localhost or 127.0.0.1 matters: Swagger UI's validator badge (an image from validator.swagger.io)
skips loopback names, and real users see the docs under a real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import LiveServer

ORIGIN = "http://wharf.test"


@pytest.fixture
def docs(browser: Any, live_server_wharf: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    """A page on http://wharf.test and the list of every URL it requests."""
    context = browser.new_context(base_url=ORIGIN, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)

    def answer(route: Any) -> None:
        url = route.request.url
        if url == ORIGIN or url.startswith(ORIGIN + "/"):
            route.fulfill(response=route.fetch(url=live_server_wharf.url + url.removeprefix(ORIGIN)))
        else:
            route.abort("blockedbyclient")

    context.route("**/*", answer)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    yield page, requested
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"api-docs-{name}.png"))


def outside(requested: list[str]) -> list[str]:
    return [url for url in requested if not (url.startswith(ORIGIN + "/") or url.startswith("data:"))]


@pytest.mark.parametrize(("path", "operation", "name"), [
    ("/api/v1/docs/", ".opblock-summary-path:has-text('/api/v1/repositories/')", "swagger-ui"),
    ("/api/v1/redoc/", "h2:has-text('repositories_list')", "redoc"),
], ids=["swagger-ui", "redoc"])
def test_the_docs_render_the_operations_from_wharf_alone(docs: tuple[Any, list[str]], path: str, operation: str,
                                                         name: str) -> None:
    page, requested = docs

    page.goto(path)

    expect(page.locator(operation).first).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert any(url.endswith("/api/v1/schema/") for url in requested)
    assert outside(requested) == []
    screenshot(page, name)
