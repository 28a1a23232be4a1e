"""A repository with 10,000 tags: the tags page runs a bounded number of SQL statements, whatever the count.

The statements of one page view: the session and the user (2), the repository and the caller's role (2), and
tag_page's expired tags, count, page, the page's scan summaries, and an index's contents and its children's
sizes (6): 10. (The speed figures for 100,000 tags come from `make bench`, not from here.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.repositories.models import Repository
from registry_api.models import Tag
from tests.factories import grant, make_repository
from tests.web.images import make_image, make_index

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
TAGS = 10_000
MAX_QUERIES = 11   # 10 for the page, and the header's unread-inbox COUNT every signed-in page makes
URL = "/repository/alice/big/tags/"


@pytest.fixture
def big(alice: User, charlie: User) -> Repository:
    repository = make_repository("alice/big")
    grant(repository, "read", user=charlie)
    image = make_image(repository, "image")
    child = make_image(repository, None, layers=[b"arm"])
    make_index(repository, "index", {"linux/amd64": image, "linux/arm64": child})
    # Every other tag on the index, so that each page has platforms to expand.
    ids = dict(Tag.objects.filter(repository=repository).values_list("name", "manifest_id"))
    Tag.objects.bulk_create([Tag(repository=repository, name=f"build-{i:05}", manifest_id=ids["index" if i % 2
                                 else "image"]) for i in range(TAGS)], batch_size=5000)
    return repository


@pytest.mark.parametrize("query", ["", "?filter=BUILD-0999", "?page=200", "?page=9999", "?filter=build&page=3"])
def test_a_page_of_ten_thousand_tags_takes_a_bounded_number_of_queries(
    login_as: Login, big: Repository, charlie: User, django_assert_max_num_queries: Any, query: str,
) -> None:
    client = login_as(charlie)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(URL + query)

    result = response.context["result"]
    assert response.status_code == 200 and result.rows
    assert result.total == (10 if "0999" in query else TAGS + (0 if "build" in query else 2))
    assert any(row.platforms for row in result.rows)


def test_a_writers_page_is_bounded_too(login_as: Login, big: Repository, alice: User,
                                       django_assert_max_num_queries: Any) -> None:
    client = login_as(alice)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(URL)

    assert response.status_code == 200 and 'value="retag"' in response.content.decode()
