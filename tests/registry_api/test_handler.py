"""The tests reach /v2/ the way a server does: through the registry's handler, without the portal's
middleware but with the security headers; the pages still get the full chain (tests/client.py)."""

from __future__ import annotations

import pytest

from portal import wsgi
from portal.security import NOTHING
from tests.client import Client, RegistryClientHandler, server_get

pytestmark = pytest.mark.django_db


def test_a_registry_request_skips_the_portals_middleware(client: Client) -> None:
    response = client.get("/v2/")

    # SessionMiddleware and AuthenticationMiddleware give every request they see a session and a user.
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")


def test_a_page_still_goes_through_all_of_it(client: Client) -> None:
    response = client.get("/login/")

    assert hasattr(response.wsgi_request, "session") and hasattr(response.wsgi_request, "user")
    assert "csrftoken" in response.cookies


def test_registry_answers_still_carry_the_security_headers(client: Client) -> None:
    response = client.get("/v2/")

    assert response["Content-Security-Policy"] == NOTHING
    assert (response["X-Content-Type-Options"], response["X-Frame-Options"]) == ("nosniff", "DENY")


@pytest.mark.parametrize("path", ["/v2/", "/v2/auth?service=wharf", "/v2/acme/app/tags/list"])
def test_the_test_client_answers_registry_requests_as_the_server_does(client: Client, path: str) -> None:
    response = client.get(path)

    assert server_get(path) == (response.status_code, dict(response.items()))


def test_the_server_and_the_test_client_share_one_registry_chain() -> None:
    assert wsgi.RegistryHandler.load_middleware is RegistryClientHandler.load_middleware
