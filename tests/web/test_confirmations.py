"""Destructive actions ask first, without JavaScript: posted without confirm=1 they change nothing and answer
with a page saying what will happen, whose form posts the same fields again with confirm=1.

alice owns acme (and its robot ci, team devs) and alice/app; bob may push to alice/app.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import Organization, Robot, Team, TeamRole, User
from portal.audit.models import LogEntry
from portal.repositories.models import DefaultPermission, Repository, RepositoryPermission
from registry_api.models import Tag
from tests.factories import grant, make_organization, make_repository, make_robot, make_team
from tests.web.conftest import messages_of, text
from tests.web.images import make_image

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
TAGS = "/repository/alice/app/tags/"
ROBOTS = "/organization/acme/robots/"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def acme(alice: User, bob: User) -> Organization:
    organization = make_organization("acme", alice)
    make_team(organization, "devs", TeamRole.MEMBER, bob)
    make_robot("acme", "ci")
    return organization


@pytest.fixture
def app(alice: User, bob: User) -> Repository:
    repository = make_repository("alice/app")
    grant(repository, "write", user=bob)
    return repository


def confirmation_fields(response: object) -> dict[str, str]:
    """The fields the confirmation page's form posts (the CSRF token aside)."""
    page = text(response)
    form = page[page.index('data-testid="confirm-page"'):]
    return {name: value for name, value in HIDDEN.findall(form) if name != "csrfmiddlewaretoken"}


def asks(response: object, *phrases: str) -> bool:
    page = text(response)
    return (response.status_code == 200 and 'data-testid="confirm-page"' in page  # type: ignore[attr-defined]
            and all(phrase in page for phrase in phrases))


# --- Robots -------------------------------------------------------------------------------------------------------

def test_deleting_a_robot_asks_first_and_deletes_nothing(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post(ROBOTS, {"action": "robot_delete", "robot": "ci"})

    assert asks(response, "Delete the robot acme+ci?", "stops working at once")
    assert confirmation_fields(response) == {"action": "robot_delete", "robot": "ci", "confirm": "1"}
    assert Robot.objects.filter(name="ci").exists()
    assert not LogEntry.objects.filter(kind="robot_delete").exists()


def test_the_confirmation_page_posts_back_and_the_robot_is_deleted(login_as: Login, acme: Organization,
                                                                   alice: User) -> None:
    client = login_as(alice)
    asked = client.post(ROBOTS, {"action": "robot_delete", "robot": "ci"})

    deleted = client.post(ROBOTS, confirmation_fields(asked), follow=True)

    assert deleted.redirect_chain[-1][0] == ROBOTS and not Robot.objects.exists()
    assert "Deleted robot acme+ci; its token no longer works." in messages_of(deleted)


def test_regenerating_a_robot_token_says_it_breaks_ci_and_keeps_the_old_token(login_as: Login, acme: Organization,
                                                                              alice: User) -> None:
    before = Robot.objects.get(name="ci").token_digest
    client = login_as(alice)

    asked = client.post(ROBOTS, {"action": "robot_regenerate", "robot": "ci"})

    assert asks(asked, "Regenerate the token of acme+ci?", "This breaks CI at once", "stops working now")
    assert "secret" not in asked.context and Robot.objects.get(name="ci").token_digest == before
    regenerated = client.post(ROBOTS, confirmation_fields(asked))
    assert regenerated.context["secret"].startswith("wharf_robot_")
    assert Robot.objects.get(name="ci").token_digest != before


def test_a_personal_robot_asks_first_too(login_as: Login, alice: User) -> None:
    make_robot("alice", "laptop")

    response = login_as(alice).post("/settings/robots/", {"action": "robot_delete", "robot": "laptop"})

    assert asks(response, "Delete the robot alice+laptop?") and Robot.objects.filter(name="laptop").exists()


# --- Tags ---------------------------------------------------------------------------------------------------------

def test_deleting_a_tag_asks_first_naming_its_digest(login_as: Login, app: Repository, bob: User) -> None:
    digest = make_image(app, "v1")

    response = login_as(bob).post(TAGS + "?page=1", {"action": "delete", "tag": "v1"})

    assert asks(response, "Delete the tag v1?", digest, "restore")
    assert f'action="{TAGS}?page=1"' in text(response)
    assert Tag.objects.filter(repository=app, name="v1").exists()


def test_a_confirmed_tag_delete_deletes(login_as: Login, app: Repository, bob: User) -> None:
    make_image(app, "v1")

    response = login_as(bob).post(TAGS, {"action": "delete", "tag": "v1", "confirm": "1"}, follow=True)

    assert not Tag.objects.filter(repository=app).exists()
    assert "Deleted the tag v1; the history can restore it." in messages_of(response)


def test_adding_a_tag_that_exists_says_it_moves_it_and_asks_first(login_as: Login, app: Repository,
                                                                  bob: User) -> None:
    old = make_image(app, "stable")
    new = make_image(app, "v2")
    client = login_as(bob)

    asked = client.post(TAGS, {"action": "retag", "tag": "v2", "digest": new, "name": "stable"})

    assert asks(asked, "Move the tag stable?", f"moves it from {old} to {new}")
    assert Tag.objects.get(repository=app, name="stable").manifest.digest == old
    client.post(TAGS, confirmation_fields(asked))
    assert Tag.objects.get(repository=app, name="stable").manifest.digest == new


def test_adding_a_new_tag_does_not_ask(login_as: Login, app: Repository, bob: User) -> None:
    digest = make_image(app, "v1")

    response = login_as(bob).post(TAGS, {"action": "retag", "tag": "v1", "digest": digest, "name": "fresh"})

    assert response.status_code == 302
    assert Tag.objects.get(repository=app, name="fresh").manifest.digest == digest


def test_a_reader_is_refused_before_any_question(login_as: Login, app: Repository, charlie: User) -> None:
    make_image(app, "v1")
    grant(app, "read", user=charlie)

    response = login_as(charlie).post(TAGS, {"action": "delete", "tag": "v1"})

    assert response.status_code == 403


# --- Teams and permissions ----------------------------------------------------------------------------------------

def test_deleting_a_team_asks_first(login_as: Login, acme: Organization, alice: User) -> None:
    client = login_as(alice)

    asked = client.post("/organization/acme/teams/devs/", {"action": "delete"})

    assert asks(asked, "Delete the team devs?", "Its 1 member loses") and Team.objects.filter(name="devs").exists()
    deleted = client.post("/organization/acme/teams/devs/", confirmation_fields(asked), follow=True)
    assert deleted.redirect_chain[-1][0] == "/organization/acme/teams/"
    assert not Team.objects.filter(name="devs").exists()


def test_removing_a_repository_permission_asks_first(login_as: Login, app: Repository, alice: User) -> None:
    url = "/repository/alice/app/settings/"
    client = login_as(alice)

    asked = client.post(url, {"action": "permission_delete", "kind": "users", "who": "bob"})

    assert asks(asked, "Remove the permission of bob on alice/app?")
    assert RepositoryPermission.objects.filter(repository=app, user__username="bob").exists()
    client.post(url, confirmation_fields(asked))
    assert not RepositoryPermission.objects.filter(repository=app, user__username="bob").exists()


def test_removing_a_default_permission_asks_first(login_as: Login, acme: Organization, alice: User) -> None:
    url = "/organization/acme/default-permissions/"
    client = login_as(alice)
    client.post(url, {"action": "set", "kind": "teams", "who": "devs", "role": "read"})

    asked = client.post(url, {"action": "delete", "kind": "teams", "who": "devs"})

    assert asks(asked, "Remove the default permission of devs?", "keep the permissions they have")
    assert DefaultPermission.objects.count() == 1
    client.post(url, confirmation_fields(asked))
    assert not DefaultPermission.objects.exists()


def test_cancel_goes_back_to_the_page(login_as: Login, acme: Organization, alice: User) -> None:
    response = login_as(alice).post(ROBOTS, {"action": "robot_delete", "robot": "ci"})

    assert f'<a class="button secondary" href="{ROBOTS}">Cancel</a>' in text(response)
