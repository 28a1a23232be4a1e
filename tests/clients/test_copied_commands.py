"""The commands the pages show work when copied: each page is fetched from a live Wharf with a signed-in
session, its commands are read from the HTML as shown (<code>/<pre>), only the documented placeholders (IMAGE,
TAG, NAME, TOKEN) are filled in, and the real podman runs them exactly as written.

Nothing is added to a command line: podman's storage (vfs, a root of the test's own), its events backend,
registries.conf and auth file come from the environment (CONTAINERS_STORAGE_CONF, CONTAINERS_CONF, ...), as a
person's would come from their configuration. A login shown without credentials prompts for them, so it runs
on a pseudo-terminal that answers the prompts as a person types.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from portal.accounts.models import Robot
from portal.repositories.models import Repository
from tests.clients.conftest import TIMEOUT, Clients, run
from tests.conftest import LiveServer, require_tool
from tests.factories import PASSWORD, grant, make_repository
from tests.web.commands import shown_commands

pytestmark = [pytest.mark.clients, pytest.mark.django_db(transaction=True)]

FLAG = "--tls-verify=false"
LOCAL_IMAGE = "localhost/copied-app:1"


@dataclass
class Shell:
    """Runs a shown command as a person would: the text split as a shell splits it, nothing added."""

    env: dict[str, str]
    home: Path

    def run(self, command: str, cwd: Path | None = None, **placeholders: str) -> str:
        filled = fill(command, **placeholders)
        return run(shlex.split(filled), env=self.env, cwd=cwd).stdout

    def run_typing(self, command: str, *answers: tuple[str, str]) -> str:
        """Run on a pseudo-terminal, typing each answer after its prompt (podman reads a password only from a
        terminal); fails unless the command exits 0."""
        primary, secondary = pty.openpty()
        process = subprocess.Popen(shlex.split(command), stdin=secondary, stdout=secondary, stderr=secondary,
                                   env=self.env, start_new_session=True)
        os.close(secondary)
        output, pending, deadline = "", list(answers), time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                if pending and output.rstrip().endswith(pending[0][0]):
                    os.write(primary, (pending.pop(0)[1] + "\n").encode())
                if not select.select([primary], [], [], 0.5)[0]:
                    if process.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(primary, 4096)
                except OSError:   # the other end closed: the command has exited
                    break
                if not chunk:
                    break
                output += chunk.decode(errors="replace")
            returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            os.close(primary)
            if process.poll() is None:
                process.kill()
        assert returncode == 0, f"{command} exited {returncode}: {output}"
        return output

    def podman(self, *args: str) -> str:
        """The test's own podman calls (building, inspecting, cleaning up), in the same storage."""
        return run(["podman", *args], env=self.env).stdout

    def login(self, command: str) -> str:
        return self.run_typing(command, ("Username:", "alice"), ("Password:", PASSWORD))


def fill(command: str, **placeholders: str) -> str:
    """Put values in for the documented placeholders (whole words only: IMAGE, TAG, NAME, TOKEN)."""
    for word, value in placeholders.items():
        command = re.sub(rf"\b{word}\b", value, command)
    return command


@pytest.fixture
def shell(clients: Clients, tmp_path: Path) -> Shell:
    home = tmp_path / "podman"
    home.mkdir()
    (home / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{home / "root"}"\nrunroot = "{home / "runroot"}"\n')
    (home / "containers.conf").write_text('[engine]\nevents_logger = "none"\n')
    (home / "auth.json").write_text('{"auths": {}}\n')
    env = {**clients.env, "CONTAINERS_STORAGE_CONF": str(home / "storage.conf"),
           "CONTAINERS_CONF": str(home / "containers.conf"), "REGISTRY_AUTH_FILE": str(home / "auth.json")}
    return Shell(env, home)


class Browser:
    """A signed-in session on the live server, as a person's browser holds it."""

    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        self.session = requests.Session()

    def sign_in(self, username: str, password: str) -> None:
        self.session.get(f"{self.url}/login/", timeout=30).raise_for_status()
        response = self.post("/login/", {"username": username, "password": password})
        assert response.url.rstrip("/") == self.url, f"sign-in failed: {response.status_code}"

    def get(self, path: str) -> str:
        response = self.session.get(self.url + path, timeout=30)
        response.raise_for_status()
        return response.text

    def post(self, path: str, data: dict[str, object]) -> requests.Response:
        token = self.session.cookies["csrftoken"]
        response = self.session.post(self.url + path, {**data, "csrfmiddlewaretoken": token}, timeout=30)
        response.raise_for_status()
        return response


def commands_on(html: str, start: str) -> list[str]:
    found = [command for command in shown_commands(html) if command.startswith(start)]
    assert found, f"no '{start}' command on the page: {shown_commands(html)}"
    return found


def write_context(context: Path) -> Path:
    """A build context: a Containerfile FROM scratch copying one small file of random bytes."""
    context.mkdir(parents=True, exist_ok=True)
    (context / "hello.txt").write_bytes(os.urandom(4096))
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    return context


def build_local_image(shell: Shell, context: Path) -> str:
    """LOCAL_IMAGE built from a fresh context; returns its id."""
    write_context(context)
    return shell.podman("build", "--quiet", "--tag", LOCAL_IMAGE, str(context)).strip().splitlines()[-1]


def pulled_id(shell: Shell, reference: str) -> str:
    return str(json.loads(shell.podman("image", "inspect", reference))[0]["Id"])


def forget_images(shell: Shell) -> None:
    shell.podman("rmi", "--all", "--force")


def test_the_login_push_and_pull_commands_of_the_landing_repository_tags_and_manifest_pages_work(
    shell: Shell, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("podman")
    make_repository("alice/app")
    image_id = build_local_image(shell, tmp_path / "context")
    assert (shell.home / "root" / "vfs").is_dir()     # podman took its storage from the environment

    [landing_login] = commands_on(requests.get(registry.url + "/", timeout=30).text, "podman login")
    assert landing_login == f"podman login {FLAG} {registry.host}"
    assert "Login Succeeded" in shell.login(landing_login)

    browser = Browser(registry)
    browser.sign_in("alice", PASSWORD)
    empty = browser.get("/repository/alice/app/")
    [login] = commands_on(empty, "podman login")
    [push] = commands_on(empty, "podman push")
    shell.login(login)            # already signed in: podman checks the saved credentials and says so
    shell.run(push, IMAGE=LOCAL_IMAGE, TAG="1")

    overview = browser.get("/repository/alice/app/")
    by_tag, by_digest = commands_on(overview, "podman pull")
    assert "insecure-registries" in overview and commands_on(overview, "docker pull")
    digest = by_digest.rsplit("@", 1)[1]
    tags_page = browser.get("/repository/alice/app/tags/")
    manifest_page = browser.get(f"/repository/alice/app/manifest/{digest}/")
    pulls = [by_tag, by_digest, *commands_on(tags_page, "podman pull"), *commands_on(manifest_page, "podman pull")]
    assert len(pulls) == 4 and all(FLAG in pull for pull in pulls)
    for pull in pulls:
        forget_images(shell)
        shell.run(pull)
        reference = shlex.split(pull)[-1]
        assert pulled_id(shell, reference) == image_id, pull


def test_the_login_commands_shown_with_a_new_token_or_robot_token_work_and_so_do_the_home_and_builds_pushes(
    shell: Shell, registry: LiveServer, tmp_path: Path,
) -> None:
    require_tool("podman")
    browser = Browser(registry)
    browser.sign_in("alice", PASSWORD)
    home = browser.get("/")
    created = browser.post("/settings/", {"action": "token_create", "name": "copied",
                                          "scopes": ["repo:read", "repo:write", "repo:create"]}).text

    [token_login] = commands_on(created, "podman login")
    assert "TOKEN" not in token_login and "wharf_pat_" in token_login
    assert "Login Succeeded" in shell.run(token_login)
    build_local_image(shell, tmp_path / "first")
    [home_push] = commands_on(home, "podman push")
    shell.run(home_push, IMAGE=LOCAL_IMAGE, NAME="app")       # creates alice/app on the first push

    build, build_push = shown_commands(browser.get("/repository/alice/app/builds/"))
    shell.run(build, cwd=write_context(tmp_path / "second"))   # the page's build names the image it pushes
    image_id = pulled_id(shell, shlex.split(build_push)[-1])
    shell.run(build_push)

    robot_created = browser.post("/settings/robots/", {"action": "robot_create", "name": "ci"}).text
    grant(Repository.objects.get(full_name="alice/app"), "read", robot=Robot.objects.get(name="ci"))
    [robot_login] = commands_on(robot_created, "podman login")
    assert "-u 'alice+ci'" in robot_login and "wharf_robot_" in robot_login
    assert "Login Succeeded" in shell.run(robot_login)
    regenerated = browser.post("/settings/robots/", {"action": "robot_regenerate", "robot": "ci", "confirm": "1"}).text
    [new_robot_login] = commands_on(regenerated, "podman login")
    shell.run(new_robot_login)
    assert shell.podman("login", "--get-login", registry.host).strip() == "alice+ci"

    tags_page = browser.get("/repository/alice/app/tags/")
    [latest_pull] = [pull for pull in commands_on(tags_page, "podman pull") if pull.endswith(":latest")]
    forget_images(shell)
    shell.run(latest_pull)             # as the robot
    assert pulled_id(shell, shlex.split(latest_pull)[-1]) == image_id


def test_a_forged_x_forwarded_proto_does_not_take_the_flag_off_the_live_servers_commands(
    registry: LiveServer,
) -> None:
    # The live server trusts no proxy; gunicorn by itself would believe the header from any local peer.
    landing = requests.get(registry.url + "/", headers={"X-Forwarded-Proto": "https"}, timeout=30).text

    assert commands_on(landing, "podman login") == [f"podman login {FLAG} {registry.host}"]
