"""Every answer tells the browser what it may do with it: pages run only Wharf's own script and styles and can
not be framed; API and registry answers may run nothing at all; cookies are HttpOnly, SameSite=Lax, and Secure
behind TLS."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.test import Client

from portal.security import API_DOCS, NOTHING
from tests.conftest import ROOT, LiveServer
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db
TEMPLATES = ROOT / "templates"


def policy(response: Any) -> dict[str, str]:
    directives = [d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";")]
    return {name: value[0] if value else "" for name, *value in directives}


def assert_common_headers(response: Any) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert policy(response)["frame-ancestors"] == "'none'"


@pytest.mark.parametrize("path", ["/", "/login/", "/signup/", "/search/", "/password-reset/"])
def test_pages_run_only_wharfs_own_script_and_styles(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert_common_headers(response)
    csp = policy(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_a_signed_in_page_and_an_error_page_carry_them_too(client: Client) -> None:
    client.force_login(make_user("alice"), backend="django.contrib.auth.backends.ModelBackend")

    for response in (client.get("/"), client.get("/repository/alice/missing/")):
        assert_common_headers(response)
        assert policy(response)["script-src"] == "'self'"
    assert response.status_code == 404


def test_the_github_sign_in_form_may_go_to_github(client: Client, settings: Any) -> None:
    settings.WHARF_GITHUB_URL = "https://github.example"

    assert policy(client.get("/login/"))["form-action"] == "'self' https://github.example"


@pytest.mark.parametrize("path", ["/api/v1/user/", "/api/v1/repositories/", "/api/v1/schema/"])
def test_api_answers_may_run_nothing(client: Client, path: str) -> None:
    response = client.get(path)

    assert_common_headers(response)
    assert response["Content-Security-Policy"] == NOTHING


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_api_docs_alone_may_run_their_inline_scripts(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert_common_headers(response)
    assert response["Content-Security-Policy"] == API_DOCS


@pytest.mark.parametrize("path", ["/v2/", "/v2/auth?service=wharf", "/v2/acme/app/blobs/sha256:" + "0" * 64])
def test_registry_answers_may_run_nothing(client: Client, path: str) -> None:
    response = client.get(path)

    assert_common_headers(response)
    assert response["Content-Security-Policy"] == NOTHING


def test_registry_answers_carry_them_on_the_registrys_own_handler(live_server_wharf: LiveServer) -> None:
    """In production /v2/ skips the portal's middleware (portal/wsgi.py); the headers must not skip with it."""
    with pytest.raises(urllib.error.HTTPError) as challenge:
        urllib.request.urlopen(f"{live_server_wharf.url}/v2/", timeout=10)

    headers = challenge.value.headers
    assert challenge.value.code == 401
    assert headers["Content-Security-Policy"] == NOTHING
    assert (headers["X-Content-Type-Options"], headers["X-Frame-Options"]) == ("nosniff", "DENY")
    assert headers["Referrer-Policy"] == "same-origin"


def cookies_of(response: Any) -> dict[str, Any]:
    return {name: morsel for name, morsel in response.cookies.items() if morsel.value}


def test_the_session_and_csrf_cookies_are_httponly_and_lax_and_not_secure_on_plain_http(client: Client) -> None:
    make_user("alice")
    client.get("/login/")
    csrf = cookies_of(client.get("/login/")) or {"csrftoken": client.cookies["csrftoken"]}
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    for morsel in [cookies_of(response)["sessionid"], csrf["csrftoken"]]:
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Lax"
        assert not morsel["secure"]


@pytest.mark.parametrize("how", ["request over TLS", "https site"])
def test_cookies_are_secure_behind_tls(client: Client, settings: Any, how: str) -> None:
    make_user("alice")
    secure = how == "request over TLS"
    if not secure:
        settings.WHARF_SITE_URL = "https://registry.example.com"

    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, secure=secure)

    assert response.status_code == 302
    assert {name: m["secure"] for name, m in cookies_of(response).items()} == {"sessionid": True, "csrftoken": True}


def test_templates_carry_no_inline_script_handler_or_style() -> None:
    inline = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.IGNORECASE)

    offenders = {str(path.relative_to(TEMPLATES)): inline.findall(path.read_text())
                 for path in TEMPLATES.rglob("*.html") if inline.search(path.read_text())}

    assert offenders == {}
