"""What every page shares: the favicon (linked, and /favicon.ico answered rather than a 404) and the header's
phone menu, which opens without JavaScript. (How it all looks at 390 px: tests/browser/test_phone_layout.py.)"""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_svg_icon(client: Client) -> None:
    response = client.get("/favicon.ico", follow=True)

    assert response.redirect_chain == [("/static/favicon.svg", 301)]
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_every_page_links_the_icon_and_has_a_menu_that_needs_no_script(client: Client) -> None:
    page = client.get("/login/").content.decode()

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert '<input type="checkbox" id="site-menu-toggle"' in page and '<label for="site-menu-toggle"' in page
