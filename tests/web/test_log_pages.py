"""The usage-log pages: readable action names, filters by kind and date range that the pager keeps, one name
per robot, and a table that scrolls inside its card instead of spilling out of it.

alice owns acme (organization log) and acme/app (repository log).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.test import Client

from portal import audit
from portal.accounts.models import Organization, User
from portal.audit.models import LogEntry
from portal.repositories.models import Repository
from tests.factories import make_organization, make_repository
from tests.web.conftest import text

pytestmark = pytest.mark.django_db
Login = Callable[[User], Client]
ORG_LOGS = "/organization/acme/logs/"
REPO_LOGS = "/repository/acme/app/logs/"


@pytest.fixture
def acme(alice: User) -> Organization:
    return make_organization("acme", alice)


@pytest.fixture
def app(acme: Organization) -> Repository:
    return make_repository("acme/app")


def entry(kind: str, repository: Repository, when: datetime | None = None, **fields: str) -> LogEntry:
    made = LogEntry.objects.create(kind=kind, actor=fields.pop("actor", "alice"), namespace=repository.namespace,
                                   repository=repository, repository_name=repository.full_name, **fields)
    if when is not None:   # created_at is set on insert; move it afterwards
        LogEntry.objects.filter(pk=made.pk).update(created_at=when)
    return made


def cells(page: str) -> list[list[str]]:
    """The log table's rows, each as its cells' text."""
    body = page[page.index('data-testid="logs"'):]
    rows = re.findall(r"<tr data-kind=[^>]*>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def test_every_kind_has_a_readable_name() -> None:
    assert set(audit.KIND_LABELS) == set(audit.KINDS)
    assert all(label[0].isupper() and "_" not in label for label in audit.KIND_LABELS.values())


def test_actions_are_shown_by_name_not_by_code(login_as: Login, app: Repository, alice: User) -> None:
    entry("push", app, target="v1")
    entry("tag_delete", app, target="v1")
    entry("robot_create", app, target="acme+ci")

    rows = cells(text(login_as(alice).get(ORG_LOGS)))

    assert [row[1] for row in rows] == ["Created robot", "Deleted tag", "Pushed"]


def test_the_log_filters_by_kind(login_as: Login, app: Repository, alice: User) -> None:
    entry("push", app, target="v1")
    entry("pull", app, target="v1")
    entry("tag_delete", app, target="v1")
    client = login_as(alice)

    one = client.get(REPO_LOGS, {"kind": "push"})
    several = client.get(ORG_LOGS, {"kind": "push,tag_delete"})
    unknown = client.get(ORG_LOGS, {"kind": "pushed"})

    assert [row[1] for row in cells(text(one))] == ["Pushed"]
    assert '<option value="push" selected>Pushed</option>' in text(one)
    assert sorted(row[1] for row in cells(text(several))) == ["Deleted tag", "Pushed"]
    assert unknown.status_code == 400 and "Unknown action pushed." in text(unknown)


def test_the_log_filters_by_date_range_with_whole_days(login_as: Login, app: Repository, alice: User) -> None:
    entry("push", app, datetime(2025, 3, 1, 23, 59, tzinfo=UTC), target="before")
    entry("push", app, datetime(2025, 3, 2, 0, 0, tzinfo=UTC), target="first-day")
    entry("push", app, datetime(2025, 3, 4, 23, 59, tzinfo=UTC), target="last-day")
    entry("push", app, datetime(2025, 3, 5, 0, 0, tzinfo=UTC), target="after")
    client = login_as(alice)

    ranged = client.get(REPO_LOGS, {"from": "2025-03-02", "to": "2025-03-04"})
    backwards = client.get(REPO_LOGS, {"from": "2025-03-04", "to": "2025-03-02"})

    assert [row[3] for row in cells(text(ranged))] == ["last-day", "first-day"]
    assert 'value="2025-03-02"' in text(ranged) and 'value="2025-03-04"' in text(ranged)
    assert backwards.status_code == 400 and "The end is before the start." in text(backwards)


def test_the_pager_keeps_the_filter(login_as: Login, app: Repository, alice: User) -> None:
    for n in range(55):
        entry("push", app, target=f"v{n}")
    entry("pull", app, target="pulled")

    page = text(login_as(alice).get(ORG_LOGS, {"kind": "push"}))

    assert "Page 1 of 2" in page and 'href="?kind=push&amp;page=2"' in page and "pulled" not in page


def test_a_robot_is_named_once(login_as: Login, app: Repository, alice: User) -> None:
    entry("token_use", app, actor="acme+ci", actor_kind="robot", target="acme+ci")
    entry("permission_set", app, target="robot:ci")
    entry("permission_delete", app, target="robot:acme+ci")
    entry("permission_set", app, target="team:devs")

    rows = cells(text(login_as(alice).get(REPO_LOGS)))

    assert [row[2:4] for row in rows] == [["alice", "team devs"], ["alice", "robot acme+ci"],
                                          ["alice", "robot acme+ci"], ["acme+ci", ""]]


def test_the_log_table_scrolls_inside_its_card(login_as: Login, app: Repository, alice: User) -> None:
    for url in (ORG_LOGS, REPO_LOGS):
        page = text(login_as(alice).get(url))
        assert re.search(r'<div class="table-scroll">\s*<table class="table" data-testid="logs">', page)
