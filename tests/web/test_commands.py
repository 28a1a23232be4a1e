"""The commands every page offers match how the server was reached: on plain HTTP podman's carry
--tls-verify=false and docker's come with a note about "insecure-registries"; behind TLS (a secure request, or
X-Forwarded-Proto from a trusted proxy) neither appears. Secrets and robot names are quoted for the shell."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.web import commands
from tests.conftest import ROOT
from tests.factories import make_organization, make_repository
from tests.web.commands import reaches_registry, shown_commands
from tests.web.conftest import MODEL_BACKEND
from tests.web.images import make_image

pytestmark = pytest.mark.django_db
FLAG = "--tls-verify=false"
DOCKER_NOTE = "insecure-registries"
TRUSTED = ("HTTP_X_FORWARDED_PROTO", "https")


@dataclass
class Shown:
    """One page as a person sees it: its HTML and the commands it offers."""

    name: str
    html: str

    @property
    def commands(self) -> list[str]:
        return shown_commands(self.html)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend=MODEL_BACKEND)
    return client


def every_page(alice: User, charlie: User, extra: dict[str, Any]) -> list[Shown]:
    """Each page that offers a command, including the one-time pages after creating a robot or a token."""
    app, _ = make_repository("alice/app"), make_repository("alice/empty")
    digest = make_image(app, "latest")
    acme = make_organization("acme", owner=alice)
    as_alice = client_for(alice)

    def get(name: str, path: str, client: Client = as_alice) -> Shown:
        response = client.get(path, **extra)
        assert response.status_code == 200, (name, response.status_code)
        return Shown(name, response.content.decode())

    def post(name: str, path: str, data: dict[str, Any]) -> Shown:
        response = as_alice.post(path, data, **extra)
        assert response.status_code == 200 and response.context["secret"], (name, response.status_code)
        return Shown(name, response.content.decode())

    assert acme.namespace.name == "acme"
    return [
        get("landing", "/", client_for(None)),
        get("home without repositories", "/", client_for(charlie)),
        get("empty repository", "/repository/alice/empty/"),
        get("repository", "/repository/alice/app/"),
        get("tags", "/repository/alice/app/tags/"),
        get("empty tags", "/repository/alice/empty/tags/"),
        get("manifest", f"/repository/alice/app/manifest/{digest}/"),
        get("builds", "/repository/alice/app/builds/"),
        get("settings", "/settings/"),
        get("robots", "/settings/robots/"),
        get("organization robots", "/organization/acme/robots/"),
        post("robot created", "/settings/robots/", {"action": "robot_create", "name": "ci"}),
        post("robot regenerated", "/settings/robots/", {"action": "robot_regenerate", "robot": "ci", "confirm": "1"}),
        post("organization robot created", "/organization/acme/robots/", {"action": "robot_create", "name": "ci"}),
        post("token created", "/settings/", {"action": "token_create", "name": "laptop", "scopes": ["repo:read"]}),
    ]


Reach = Callable[[Any], dict[str, Any]]
PLAIN: dict[str, Reach] = {
    "plain HTTP": lambda settings: {},
    # Without trusted proxies anyone could send the header: it must change nothing.
    "X-Forwarded-Proto from an untrusted peer": lambda settings: {"HTTP_X_FORWARDED_PROTO": "https"},
}


def _trusted_proxy(settings: Any) -> dict[str, Any]:
    settings.SECURE_PROXY_SSL_HEADER = TRUSTED   # what WHARF_TRUSTED_PROXIES > 0 sets (tested below)
    return {"HTTP_X_FORWARDED_PROTO": "https"}


SECURE: dict[str, Reach] = {"TLS": lambda settings: {"secure": True}, "TLS at a trusted proxy": _trusted_proxy}


@pytest.mark.parametrize("reach", PLAIN.values(), ids=PLAIN.keys())
def test_on_plain_http_every_podman_command_turns_tls_verification_off_and_docker_gets_a_note(
    reach: Reach, settings: Any, alice: User, charlie: User,
) -> None:
    pages = every_page(alice, charlie, reach(settings))

    for page in pages:
        registry_commands = [command for command in page.commands if reaches_registry(command)]
        assert registry_commands, f"{page.name} shows no registry command"
        for command in registry_commands:
            assert shlex.split(command)[2] == FLAG, (page.name, command)
        if any(command.startswith("docker ") for command in page.commands):
            assert DOCKER_NOTE in page.html, page.name
    assert any(command.startswith("docker ") for page in pages for command in page.commands)


@pytest.mark.parametrize("reach", SECURE.values(), ids=SECURE.keys())
def test_behind_tls_no_command_turns_tls_verification_off_and_docker_gets_no_note(
    reach: Reach, settings: Any, alice: User, charlie: User,
) -> None:
    pages = every_page(alice, charlie, reach(settings))

    for page in pages:
        registry_commands = [command for command in page.commands if reaches_registry(command)]
        assert registry_commands, f"{page.name} shows no registry command"
        assert not [command for command in page.commands if FLAG in command], page.name
        assert DOCKER_NOTE not in page.html, page.name


def test_a_new_robots_login_command_carries_its_quoted_name_and_token_as_the_shell_reads_them(
    alice: User, charlie: User,
) -> None:
    pages = {page.name: page for page in every_page(alice, charlie, {})}

    for name, username in [("robot created", "alice+ci"), ("robot regenerated", "alice+ci"),
                           ("organization robot created", "acme+ci"), ("token created", "alice")]:
        html = pages[name].html
        [login] = [command for command in pages[name].commands if command.startswith("podman login")]
        secret = html.split('data-testid="secret">', 1)[1].split("<", 1)[0]
        assert f"-u '{username}' -p '{secret}'" in login
        assert shlex.split(login) == ["podman", "login", FLAG, "-u", username, "-p", secret, "testserver"]


def test_the_shell_quote_survives_a_single_quote() -> None:
    assert shlex.split(commands.quote("it's $HOME")) == ["it's $HOME"]


@pytest.mark.parametrize(("proxies", "expected"), [("0", "None"), ("1", str(TRUSTED))])
def test_x_forwarded_proto_is_trusted_only_behind_trusted_proxies(proxies: str, expected: str,
                                                                  tmp_path: Path) -> None:
    env = {**os.environ, "WHARF_TRUSTED_PROXIES": proxies, "DJANGO_SETTINGS_MODULE": "portal.settings",
           "DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == expected


@pytest.mark.parametrize(("trusted", "status"), [(True, 302), (False, 403)])
def test_a_form_posted_through_a_tls_proxy_passes_the_csrf_check_only_when_the_proxy_is_trusted(
    trusted: bool, status: int, settings: Any, alice: User,
) -> None:
    if trusted:
        settings.SECURE_PROXY_SSL_HEADER = TRUSTED
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "wharf.example"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend=MODEL_BACKEND)
    # What a TLS-terminating proxy passes on: the browser's Host and Origin, and the scheme it was reached by.
    behind_tls: dict[str, Any] = {"HTTP_HOST": "wharf.example", "HTTP_X_FORWARDED_PROTO": "https",
                  "HTTP_ORIGIN": "https://wharf.example", "HTTP_REFERER": "https://wharf.example/settings/"}
    client.get("/settings/", **behind_tls)

    response = client.post("/settings/", {"action": "email", "email": "alice@example.org",
                                          "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, **behind_tls)

    assert response.status_code == status
