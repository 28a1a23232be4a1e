"""The dashboard (recently pushed first, starred repositories, organizations), search, and starring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.repositories.models import Repository, RepositoryPermission, Star, Visibility
from registry_api.models import Tag
from tests.factories import grant, make_organization, make_repository, make_user
from tests.web.conftest import messages_of, text
from tests.web.images import make_image

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]


def names(repositories: object) -> list[str]:
    return [r.full_name for r in repositories]  # type: ignore[attr-defined]


def pushed(repository: Repository, tag: str, hours_ago: float) -> None:
    make_image(repository, tag)
    Tag.objects.filter(repository=repository, name=tag).update(updated_at=timezone.now() - timedelta(hours=hours_ago))


# --- Dashboard --------------------------------------------------------------------------------------------------------

def test_the_dashboard_lists_recently_pushed_repositories_first(login_as: Login, alice: User) -> None:
    old, new, never = make_repository("alice/old"), make_repository("alice/new"), make_repository("alice/never")
    pushed(old, "v1", hours_ago=1)     # its newest tag decides, not its oldest
    pushed(old, "v0", hours_ago=48)
    pushed(new, "v1", hours_ago=0.1)

    response = login_as(alice).get("/")

    assert names(response.context["repositories"]) == ["alice/new", "alice/old", "alice/never"]
    assert never.full_name in text(response) and "never" in text(response)


def test_the_dashboard_shows_starred_repositories_the_user_may_still_read(login_as: Login, alice: User,
                                                                           bob: User) -> None:
    public = make_repository("bob/public", Visibility.PUBLIC)
    shared = make_repository("bob/shared")
    grant(shared, "read", user=alice)
    Star.objects.create(user=alice, repository=public)
    Star.objects.create(user=alice, repository=shared)
    Star.objects.create(user=bob, repository=public)   # others' stars do not make it show twice
    RepositoryPermission.objects.filter(repository=shared).delete()   # alice lost her grant

    response = login_as(alice).get("/")

    assert names(response.context["starred"]) == ["bob/public"]
    assert "bob/shared" not in text(response)


def test_the_dashboard_lists_the_users_organizations(login_as: Login, alice: User) -> None:
    make_organization("acme", alice)
    make_organization("other")

    assert [o.name for o in login_as(alice).get("/").context["organizations"]] == ["acme"]


# --- Search -----------------------------------------------------------------------------------------------------------

def test_search_finds_readable_repositories_by_name_or_description(login_as: Login, alice: User, bob: User) -> None:
    make_repository("alice/web-app")
    described = make_repository("bob/tools", Visibility.PUBLIC)
    described.description = "The build tools of the web team"
    described.save()
    make_repository("bob/web-secret")   # private, and alice has no grant

    response = login_as(alice).get("/search/?q=WEB")

    assert names(response.context["results"]) == ["alice/web-app", "bob/tools"]


def test_search_gives_the_same_answer_for_a_private_repository_as_for_a_missing_one(login_as: Login, alice: User,
                                                                                    bob: User) -> None:
    make_repository("bob/secret-thing")
    client = login_as(alice)

    private = client.get("/search/?q=secret-thing")
    missing = client.get("/search/?q=absent-thing")

    assert list(private.context["results"]) == list(missing.context["results"]) == []
    assert text(private).replace("secret-thing", "Q") == text(missing).replace("absent-thing", "Q")


def test_anonymous_search_finds_public_repositories_only(client: Client, alice: User) -> None:
    make_repository("alice/app-public", Visibility.PUBLIC)
    make_repository("alice/app-private")

    response = client.get("/search/?q=app")

    assert response.status_code == 200 and names(response.context["results"]) == ["alice/app-public"]


def test_an_empty_search_shows_only_the_form(client: Client) -> None:
    response = client.get("/search/?q=%20")

    assert response.status_code == 200 and response.context["results"] is None


# --- Stars ------------------------------------------------------------------------------------------------------------

def test_starring_and_unstarring_a_repository(login_as: Login, alice: User, bob: User) -> None:
    repository = make_repository("bob/public", Visibility.PUBLIC)
    client = login_as(alice)

    starred = client.post("/repository/bob/public/star/", {"action": "star"}, follow=True)
    page = text(starred)
    unstarred = client.post("/repository/bob/public/star/", {"action": "unstar"}, follow=True)

    assert starred.redirect_chain == [("/repository/bob/public/", 302)]
    assert "Starred bob/public." in messages_of(starred) and "★ 1 star" in page and 'value="unstar"' in page
    assert "Unstarred bob/public." in messages_of(unstarred)
    assert not Star.objects.filter(repository=repository).exists()


def test_starring_needs_a_signed_in_person_who_may_read(client: Client, login_as: Login, alice: User) -> None:
    make_repository("alice/private")
    make_repository("alice/public", Visibility.PUBLIC)

    anonymous = client.post("/repository/alice/public/star/", {"action": "star"})
    outsider = login_as(make_user("otto")).post("/repository/alice/private/star/", {"action": "star"})
    by_get = client.get("/repository/alice/public/star/")

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert outsider.status_code == 404 and by_get.status_code in (302, 405)
    assert not Star.objects.exists()
