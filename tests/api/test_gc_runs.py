"""GET /api/v1/superuser/gc/runs/: the garbage-collection runs, for superusers only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from registry_api.models import GcRun
from tests.api.conftest import as_user
from tests.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/superuser/gc/runs/"


def test_a_superuser_sees_the_runs_newest_first():
    now = timezone.now()
    GcRun.objects.create(started_at=now - timedelta(hours=1), finished_at=now - timedelta(minutes=59),
                         blobs_removed=3, bytes_freed=4096)
    GcRun.objects.create(dry_run=True, started_at=now)

    response = as_user(make_user("root", is_superuser=True)).get(URL)

    assert response.status_code == 200
    older, newer = response.json()["results"][1], response.json()["results"][0]
    assert newer["dry_run"] is True and newer["finished_at"] is None and newer["duration_seconds"] is None
    assert (older["blobs_removed"], older["bytes_freed"], older["duration_seconds"]) == (3, 4096, 60.0)


def test_anyone_else_finds_no_such_route(alice):
    assert as_user(alice).get(URL).status_code == 404
    assert APIClient().get(URL).status_code == 401


def test_the_route_is_in_the_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    assert "GcRun" in schema["components"]["schemas"] and URL in schema["paths"]
