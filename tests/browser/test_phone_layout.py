"""The pages at a phone's width (390 px) in a real browser: the header folds behind a Menu button that opens
without JavaScript, wide tables scroll inside their cards, and no page is wider than the screen. And at desktop
width the header shows its links and the pages load without a 404 (the favicon included)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from portal.audit.models import LogEntry
from portal.repositories.models import Repository
from tests.browser.conftest import Shot, sign_in
from tests.factories import make_organization, make_repository, make_robot, make_user
from tests.web.images import make_image

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = {"width": 390, "height": 844}
TAGS = "/repository/alice/app/tags/"


@pytest.fixture
def app() -> Repository:
    """alice's alice/app with a few tags, one with a long name; acme (hers too) with a robot."""
    alice = make_user("alice")
    repository = make_repository("alice/app")
    for tag in ("latest", "v1.0.0", "v1.1.0", "release-candidate-2025-03-01-build-1234"):
        make_image(repository, tag)
    make_organization("acme", alice)
    make_robot("acme", "ci")
    for kind, actor, target in (("robot_create", "alice", "acme+ci"), ("token_use", "acme+ci", "acme+ci"),
                                ("push", "acme+ci", "v1.1.0"), ("permission_set", "alice", "robot:ci")):
        LogEntry.objects.create(kind=kind, actor=actor, namespace=repository.namespace, repository=repository,
                                repository_name=repository.full_name, target=target, client_ip="192.0.2.10")
    return repository


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def wider_than_the_screen(page: Any) -> list[str]:
    """The innermost elements reaching past the screen's right edge, for the failure message."""
    return list(page.evaluate("""() => [...document.querySelectorAll("body *")]
        .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
        .filter(e => ![...e.querySelectorAll("*")].some(c => c.getBoundingClientRect().right > innerWidth + 0.5))
        .filter(e => !e.parentElement.closest(".table-scroll"))
        .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
        .slice(0, 8)"""))


def on_a_phone(page: Any, username: str = "alice") -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, username)


def test_on_a_phone_the_header_folds_behind_a_menu(page: Any, shot: Shot, app: Repository) -> None:
    on_a_phone(page)
    menu = page.locator("[data-testid=site-menu]")

    expect(page.locator("[data-testid=site-menu-button]")).to_be_visible()
    expect(menu).to_be_hidden()
    expect(page.locator("header >> text=New repository")).to_be_hidden()
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    shot("closed")

    page.click("[data-testid=site-menu-button]")
    expect(menu).to_be_visible()
    page.click("[data-testid=user-menu]")
    expect(page.locator("header >> text=Robot accounts")).to_be_visible()
    assert page_width(page) <= PHONE["width"]
    shot("open")

    page.click("header >> text=New repository")
    page.wait_for_url("**/repository/new/")
    expect(menu).to_be_hidden()   # a new page starts with the menu folded


def test_on_a_phone_the_tags_table_scrolls_inside_its_card(page: Any, shot: Shot, app: Repository) -> None:
    on_a_phone(page)
    page.goto(TAGS)
    scroller = page.locator("section.card .tags-scroll")

    scroll_width, client_width, overflow = scroller.evaluate(
        "box => [box.scrollWidth, box.clientWidth, getComputedStyle(box).overflowX]")
    card = page.locator("section.card:has([data-testid=tags])").bounding_box()

    assert overflow == "auto" and scroll_width > client_width   # the table is wider than the card, and scrolls
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
    assert page_width(page) <= PHONE["width"]
    shot("tags")

    scroller.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    row = page.locator("tr.tag-row[data-tag=latest]")
    row.locator("summary").click()
    expect(row.locator("[data-testid=delete-tag]")).to_be_visible()
    scroller.evaluate("box => { box.scrollLeft = box.scrollWidth; }")   # the open panel widened the table
    assert page_width(page) <= PHONE["width"]
    shot("actions")


@pytest.mark.parametrize("url", [
    "/", "/repository/alice/app/", "/repository/alice/app/history/", "/repository/alice/app/settings/",
    "/repository/alice/app/logs/", "/organization/acme/", "/organization/acme/robots/", "/organization/acme/logs/",
    "/settings/", "/search/?q=app",
])
def test_no_page_is_wider_than_a_phone(page: Any, shot: Shot, app: Repository, url: str) -> None:
    on_a_phone(page)

    page.goto(url)

    shot("page")
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)


def test_the_confirmation_page_fits_a_phone(page: Any, shot: Shot, app: Repository) -> None:
    on_a_phone(page)
    page.goto("/organization/acme/robots/")
    page.click("form:has(input[name=action][value=robot_regenerate]) button[type=submit]")

    expect(page.locator("[data-testid=confirm-page]")).to_contain_text("This breaks CI at once")
    assert page_width(page) <= PHONE["width"]
    shot("confirm")


def test_at_desktop_width_the_header_shows_its_links_and_nothing_is_missing(page: Any, shot: Shot,
                                                                           app: Repository) -> None:
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    sign_in(page, "alice")

    page.goto(TAGS)

    expect(page.locator("[data-testid=site-menu-button]")).to_be_hidden()
    expect(page.locator("header >> text=New repository")).to_be_visible()
    row = page.locator("tr.tag-row[data-tag=latest]")
    row.locator("summary").click()
    expect(row.locator("[data-testid=delete-tag]")).to_be_visible()
    # The panel floats over the rows below: the table's box must not clip it.
    assert page.locator(".tags-scroll").evaluate("box => getComputedStyle(box).overflowX") == "visible"
    shot("tags")
    page.goto("/repository/alice/app/logs/")
    expect(page.locator("[data-testid=logs]")).to_contain_text("Created robot")
    shot("logs")
    assert missing == []
    favicon = page.request.get("/favicon.ico")
    assert favicon.ok and favicon.headers["content-type"].startswith("image/svg+xml")
