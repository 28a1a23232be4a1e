"""/superuser/gc/: the garbage-collection runs page, which exists only for superusers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from registry_api.models import GcRun
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_a_superuser_sees_each_run_and_what_it_freed(login_as):
    GcRun.objects.create(finished_at=timezone.now(), manifests_removed=2, blobs_removed=7, bytes_freed=3 << 20)
    GcRun.objects.create(dry_run=True, error="OSError: bucket unreachable")

    response = login_as(make_user("root", is_superuser=True)).get("/superuser/gc/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "3.0\xa0MB" in body and "dry run" in body and "OSError: bucket unreachable" in body


def test_the_page_is_missing_for_everyone_else(client, login_as, alice):
    assert client.get("/superuser/gc/").status_code == 404
    assert login_as(alice).get("/superuser/gc/").status_code == 404


def test_only_a_superusers_menu_links_the_page(login_as, alice):
    assert 'href="/superuser/gc/"' in login_as(make_user("root", is_superuser=True)).get("/").content.decode()
    assert 'href="/superuser/gc/"' not in login_as(alice).get("/").content.decode()
