"""The periodic tag jobs: expired tags are deleted into the history, and history past the retention window is
forgotten; once by calling the tasks, once through a real Celery worker on the real Redis broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.repositories.tasks import expire_tags
from registry_api.models import Tag, TagEvent
from registry_api.tasks import prune_tag_history
from tests.factories import make_repository
from tests.registry_api.tagged import push_image
from tests.workers.test_purge_worker import celery_worker  # noqa: F401  (the fixture)


def wait_for(condition, worker, seconds=60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        assert worker.poll() is None, "the worker died; see test-artifacts/celery-worker.log"
        time.sleep(0.2)
    assert condition()


@pytest.mark.django_db
def test_the_tasks_expire_tags_and_prune_old_history(client, settings, alice):
    settings.WHARF_TAG_HISTORY_DAYS = 14
    repository = make_repository("alice/app")
    push_image(client, repository, "old", "one")
    push_image(client, repository, "kept", "two")
    Tag.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    TagEvent.objects.filter(tag="kept").update(created_at=timezone.now() - timedelta(days=15))

    assert expire_tags() == 1
    assert prune_tag_history() == 1
    assert expire_tags() == 0

    assert list(Tag.objects.values_list("name", flat=True)) == ["kept"]
    assert sorted(TagEvent.objects.values_list("tag", "kind")) == [("old", "deleted"), ("old", "pushed")]


def test_a_worker_deletes_an_expired_tag_into_its_history(celery_worker, client, registry_user):  # noqa: F811
    repository = make_repository("alice/app")
    digest = push_image(client, repository, "nightly")
    Tag.objects.filter(name="nightly").update(expires_at=timezone.now() - timedelta(seconds=1))

    expire_tags.delay()

    wait_for(lambda: not Tag.objects.filter(name="nightly").exists(), celery_worker)
    event = TagEvent.objects.get(tag="nightly", kind="deleted")
    assert (event.previous_digest, event.actor_id) == (digest, None)


def test_every_scheduled_job_names_a_task_the_worker_knows(settings):
    # Beat sends a task by name; a name no module defines is dropped by the worker, silently for beat.
    from portal.celery import app

    app.loader.import_default_modules()

    assert {job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)
