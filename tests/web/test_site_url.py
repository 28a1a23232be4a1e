"""Links in mail come from the configured site (WHARF_SITE_URL), never from the request's Host, and the hosts
Wharf answers to follow the site by default."""

from __future__ import annotations

import importlib.util
import re
from io import StringIO
from types import ModuleType
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from tests.conftest import ROOT
from tests.factories import make_user

pytestmark = pytest.mark.django_db
SITE = "https://registry.example.com"


@pytest.fixture
def outbox(settings: Any) -> list[Any]:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WHARF_SITE_URL = SITE
    return mail.outbox


def fresh_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """portal/settings.py executed anew under `env`, as a separate module (the running settings stay as they are)."""
    for name in ("WHARF_SITE_URL", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("wharf_settings_probe", ROOT / "portal" / "settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_password_reset_link_points_at_the_site_whatever_host_the_request_names(client: Client, outbox: list[Any],
                                                                                  settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["*"]   # even where an operator lets every name in
    make_user("dora")

    response = client.post("/password-reset/", {"email": "dora@example.com"}, HTTP_HOST="evil.example")

    assert response.status_code == 302
    body = outbox[0].body
    assert "evil.example" not in body
    assert re.search(rf"^{re.escape(SITE)}/password-reset/[^/\s]+/[^/\s]+/$", body, re.MULTILINE)


def test_a_request_naming_a_host_outside_the_site_is_refused_and_mails_nothing(client: Client,
                                                                                outbox: list[Any]) -> None:
    make_user("dora")

    response = client.post("/password-reset/", {"email": "dora@example.com"}, HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert outbox == []


def test_the_invite_command_links_to_the_site_by_default(settings: Any) -> None:
    settings.WHARF_SITE_URL = SITE
    out = StringIO()

    call_command("invite", stdout=out)

    assert out.getvalue().startswith(f"{SITE}/signup/?invite=wharf_invite_")


def test_make_run_defaults_to_loopback_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = fresh_settings(monkeypatch, PORT="8123")

    assert defaults.WHARF_SITE_URL == "http://127.0.0.1:8123"
    assert defaults.ALLOWED_HOSTS == ["127.0.0.1", "localhost", "[::1]"]
    assert defaults.CSRF_TRUSTED_ORIGINS == ["http://127.0.0.1:8123"]


def test_allowed_hosts_follow_the_site_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    production = fresh_settings(monkeypatch, WHARF_SITE_URL=f"{SITE}/")

    assert production.WHARF_SITE_URL == SITE
    assert production.ALLOWED_HOSTS == ["registry.example.com", "127.0.0.1", "localhost", "[::1]"]
    assert production.CSRF_TRUSTED_ORIGINS == [SITE]
    assert fresh_settings(monkeypatch, WHARF_SITE_URL=SITE, ALLOWED_HOSTS="a.example, b.example").ALLOWED_HOSTS == [
        "a.example", "b.example"]
