"""Every hand-written SQL statement runs here, on whichever database the pass uses (make test runs the suite
on PostgreSQL and on SQLite): a statement nobody executes fails the completeness test below, and what the
statements write and read is checked against the ORM's view of the same rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from portal import access, audit
from portal.access import Principal
from portal.accounts import credentials
from portal.audit.models import LogEntry
from portal.db import aware_datetime
from registry_api import queries
from registry_api.models import Blob, Manifest, TagEvent, Upload
from tests.factories import make_api_token, make_organization, make_repository, make_robot, sha256
from tests.registry_api.helpers import OCI_INDEX, OCI_MANIFEST, auth, index_of, oci_image, push_manifest


def registered_statements() -> dict[str, str]:
    statements = {f"queries.{k}": v for k, v in queries._sql().items()}
    statements |= {f"access.{k}": v for k, v in access._statements().items()}
    statements |= {f"credentials.{k}": v for k, v in credentials._live_statements().items()}
    statements["audit.insert"] = audit._insert_sql()
    return statements


@contextmanager
def executed_sql() -> Iterator[list[str]]:
    """The SQL text of every statement run, as the caller wrote it (before parameters are bound)."""
    seen: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def exercise_everything(client: Any, alice: Any) -> None:
    name = "alice/app"
    started = client.post(f"/v2/{name}/blobs/uploads/", HTTP_AUTHORIZATION=auth(name))
    location = started["Location"]
    client.patch(location, data=b"chunk", content_type="application/octet-stream", HTTP_AUTHORIZATION=auth(name))
    client.get(location, HTTP_AUTHORIZATION=auth(name))
    client.put(f"{location}?digest={sha256(b'chunk')}", data=b"", content_type="application/octet-stream",
               HTTP_AUTHORIZATION=auth(name))
    image = oci_image(client, name)
    digest = push_manifest(client, name, "v1", image, OCI_MANIFEST)
    push_manifest(client, name, "multi", index_of(OCI_INDEX, [(OCI_MANIFEST, image)]), OCI_INDEX)
    client.get(f"/v2/{name}/manifests/v1", HTTP_AUTHORIZATION=auth(name, "pull"))
    client.get(f"/v2/{name}/manifests/{digest}", HTTP_AUTHORIZATION=auth(name, "pull"))
    client.get(f"/v2/{name}/blobs/{sha256(b'chunk')}", HTTP_AUTHORIZATION=auth(name, "pull"))

    repository = make_repository("alice/tool")
    robot, _ = make_robot("alice", "ci")
    make_organization("acme", owner=alice)
    robot_principal = credentials.robot_principal(robot.pk, "alice+ci", robot.token_digest)
    access.repository_role(robot_principal, repository, repository.full_name)
    access.repository_role(Principal.for_user(alice), None, "acme/new")
    for credential in (f"user:{alice.pk}", credentials.credential_of(robot_principal)):
        assert credentials.live_principal(credential) is not None


@pytest.mark.django_db
def test_every_hand_written_statement_runs_on_this_database(client, alice):
    make_api_token(alice, "repo:read")
    token_id = alice.api_tokens.get().pk

    with executed_sql() as seen:
        exercise_everything(client, alice)
        credentials.live_principal(f"token:{token_id}")

    missing = [key for key, sql in registered_statements().items() if not any(sql in run for run in seen)]
    assert missing == []


@pytest.mark.django_db
def test_rows_written_by_raw_sql_read_back_through_the_orm_with_their_times(client, alice):
    before = timezone.now() - timedelta(seconds=5)

    exercise_everything(client, alice)

    after = timezone.now() + timedelta(seconds=5)
    times = [moment for model in (Blob, Manifest, TagEvent, LogEntry)
             for moment in model.objects.values_list("created_at", flat=True)]
    assert times and all(before <= moment <= after for moment in times)
    assert {m.media_type for m in Manifest.objects.all()} == {OCI_MANIFEST, OCI_INDEX}
    assert not Upload.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("expires_in", [timedelta(days=1), timedelta(seconds=-1)], ids=["valid", "expired"])
def test_an_api_token_with_an_expiry_is_read_back_aware(alice, expires_in):
    # make run's SQLite gave a naive datetime here, and podman login with such a token answered 500.
    make_api_token(alice, "repo:read", expires_at=timezone.now() + expires_in)
    token = alice.api_tokens.get()

    principal = credentials.live_principal(f"token:{token.pk}")

    assert (principal is not None) is (expires_in > timedelta(0))


@pytest.mark.parametrize("raw", ["2030-01-02 03:04:05.000006", datetime(2030, 1, 2, 3, 4, 5, 6),
                                 datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)])
def test_a_raw_datetime_is_aware_utc_whatever_the_driver_returns(raw):
    assert aware_datetime(raw) == datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_a_raw_null_datetime_stays_null():
    assert aware_datetime(None) is None
