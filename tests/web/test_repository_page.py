"""The repository's overview page (description, pull commands, size, last push, stars, links) and the create
form's "how to start" choice; and the Markdown renderer behind descriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.repositories.models import Repository, Star, Visibility
from portal.web.markdown import render
from registry_api.models import Blob
from tests.factories import grant, make_repository
from tests.web.conftest import text
from tests.web.images import make_image, make_index

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]


@pytest.fixture
def app(alice: User, charlie: User) -> Repository:
    repository = make_repository("alice/app")
    repository.description = "# App\n\nRun **it**.<script>alert(1)</script> [docs](javascript:alert(2))"
    repository.save()
    grant(repository, "read", user=charlie)
    return repository


def test_the_description_is_rendered_markdown_without_scripts(login_as: Login, app: Repository,
                                                              charlie: User) -> None:
    page = text(login_as(charlie).get("/repository/alice/app/"))

    assert "<h1>App</h1>" in page and "<strong>it</strong>" in page
    assert "<script>alert" not in page and "javascript:" not in page


def test_the_overview_shows_pull_commands_by_tag_and_by_digest(login_as: Login, app: Repository,
                                                               charlie: User, settings: Any) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "registry.example"]
    make_image(app, "v1")
    latest = make_image(app, "latest")
    make_image(app, "v2")   # newer, but "latest" is the tag to show when there is one

    page = text(login_as(charlie).get("/repository/alice/app/", HTTP_HOST="registry.example:5000"))

    for client in ("podman pull --tls-verify=false", "docker pull"):
        assert f"{client} registry.example:5000/alice/app:latest" in page
        assert f"{client} registry.example:5000/alice/app@{latest}" in page
    assert page.count('data-copy="pull-') == 4


def test_the_overview_shows_size_last_push_tag_and_star_counts(login_as: Login, app: Repository, alice: User,
                                                               charlie: User) -> None:
    one = make_image(app, "v1", layers=[b"a" * 1024, b"b" * 1024])
    make_image(app, "v1.1", layers=[b"a" * 1024, b"b" * 1024])   # the same image again: counted once
    other = make_image(app, None, layers=[b"c" * 1024])
    make_index(app, "multi", {"linux/amd64": one, "linux/arm64": other})
    Star.objects.create(user=alice, repository=app)

    response = login_as(charlie).get("/repository/alice/app/")

    expected = sum(Blob.objects.filter(links__repository=app).values_list("size", flat=True))
    assert response.context["size"] == expected and expected > 3 * 1024
    assert response.context["last_push"] is not None and response.context["star_count"] == 1
    assert response.context["recent"].total == 3
    assert "each counted once" in text(response)


def test_an_empty_repository_shows_how_to_push_to_it(login_as: Login, alice: User) -> None:
    make_repository("alice/empty")

    page = text(login_as(alice).get("/repository/alice/empty/"))

    assert "podman login --tls-verify=false testserver" in page
    assert "podman push --tls-verify=false IMAGE testserver/alice/empty:TAG" in page
    assert "never" in page


def test_the_overview_links_logs_and_settings_for_admins_only(login_as: Login, app: Repository, alice: User,
                                                              charlie: User) -> None:
    as_admin = text(login_as(alice).get("/repository/alice/app/"))
    as_reader = text(login_as(charlie).get("/repository/alice/app/"))

    for link in ("tags/", "history/", "builds/"):
        assert f'href="/repository/alice/app/{link}"' in as_admin
        assert f'href="/repository/alice/app/{link}"' in as_reader
    for link in ("logs/", "settings/"):
        assert f'href="/repository/alice/app/{link}"' in as_admin
        assert f'href="/repository/alice/app/{link}"' not in as_reader


def test_anonymous_visitors_see_a_public_repository_without_a_star_button(client: Client, alice: User) -> None:
    make_repository("alice/pub", Visibility.PUBLIC)

    page = text(client.get("/repository/alice/pub/"))

    assert "★ 0 stars" in page and "/repository/alice/pub/star/" not in page


# --- Creating: how to start ------------------------------------------------------------------------------------------

def test_an_empty_start_creates_the_repository_and_shows_the_push_command(login_as: Login, alice: User) -> None:
    response = login_as(alice).post("/repository/new/", {"namespace": "alice", "name": "app", "start": "empty",
                                                         "visibility": "private", "description": "*Hi*"},
                                    follow=True)

    assert response.redirect_chain[-1][0] == "/repository/alice/app/"
    page = text(response)
    assert "podman push --tls-verify=false IMAGE testserver/alice/app:TAG" in page and "<em>Hi</em>" in page


# --- Markdown ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "kept", "dropped"), [
    ("**bold** and `code`", "<strong>bold</strong> and <code>code</code>", ""),
    ("[site](https://example.com)", 'href="https://example.com"', ""),
    ("[bad](javascript:alert(1))", "bad", "javascript:"),
    ("<img src=x onerror=alert(1)>", "<img", "onerror"),
    ("<style>body{}</style><iframe src=x></iframe>text", "text", "<style"),
    ("```\n<b>not bold</b>\n```", "&lt;b&gt;not bold&lt;/b&gt;", "<b>"),
])
def test_markdown_is_rendered_and_sanitized(source: str, kept: str, dropped: str) -> None:
    html = str(render(source))

    assert kept in html
    if dropped:
        assert dropped not in html


def test_an_empty_description_renders_as_nothing() -> None:
    assert render("  \n") == ""
