"""Server-Timing: pages and the API say what the server spent on them; the registry's /v2/ goes without."""

from __future__ import annotations

import re
import time

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from portal.timing import server_timing
from tests.client import server_get

APP_TIMING = re.compile(r"^app;dur=\d+\.\d$")


@pytest.fixture(autouse=True)
def timing_on(settings):  # type: ignore[no-untyped-def]
    settings.WHARF_SERVER_TIMING = True


def test_off_by_default() -> None:
    from portal import settings as defaults

    assert defaults.WHARF_SERVER_TIMING is False


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/api/v1/user/", "/no-such-page/"])
def test_pages_and_api_responses_carry_the_server_time(client: Client, url: str) -> None:
    response = client.get(url)

    assert APP_TIMING.match(response["Server-Timing"]), response["Server-Timing"]


def test_it_keeps_the_entries_a_view_set_itself() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("ok")
        response["Server-Timing"] = "db;dur=2.5"
        return response

    response = server_timing(view)(RequestFactory().get("/"))

    first, second = response["Server-Timing"].split(", ")
    assert first == "db;dur=2.5"
    assert APP_TIMING.match(second)


def test_it_measures_the_time_spent_inside() -> None:
    def slow_view(request: HttpRequest) -> HttpResponse:
        time.sleep(0.02)
        return HttpResponse("ok")

    response = server_timing(slow_view)(RequestFactory().get("/"))

    assert float(response["Server-Timing"].removeprefix("app;dur=")) >= 20


def wsgi_get(path: str) -> dict[str, str]:
    """The response headers of the deployed WSGI application, gunicorn's view of it."""
    return server_get(path)[1]


def test_the_registry_is_served_without_it() -> None:
    assert "Server-Timing" not in wsgi_get("/v2/")
    assert APP_TIMING.match(wsgi_get("/login/")["Server-Timing"])
