"""Stars: a person's bookmarks on repositories, listed while they may read them."""

from __future__ import annotations

import pytest

from portal.repositories import stars
from portal.repositories.models import Visibility
from tests.factories import grant, make_repository

pytestmark = pytest.mark.django_db


def test_stars_are_idempotent_and_listed_newest_first(alice):
    first, second = make_repository("alice/one"), make_repository("alice/two")

    stars.star(alice, first)
    stars.star(alice, first)
    stars.star(alice, second)

    assert stars.is_starred(alice, first)
    assert list(stars.starred_repositories(alice)) == [second, first]
    stars.unstar(alice, first)
    stars.unstar(alice, first)
    assert not stars.is_starred(alice, first)
    assert list(stars.starred_repositories(alice)) == [second]


def test_a_star_on_a_repository_no_longer_readable_is_not_listed(bob):
    secret = make_repository("acme/secret")
    public = make_repository("acme/open", Visibility.PUBLIC)
    permission = grant(secret, "read", user=bob)
    stars.star(bob, secret)
    stars.star(bob, public)

    permission.delete()

    assert list(stars.starred_repositories(bob)) == [public]
    assert stars.is_starred(bob, secret)   # kept, and listed again once bob may read it again
