"""vulnerability_found end to end: a scanned image, then an import with a new advisory for one of its packages
→ one in-app message per admin-chosen reader, once, and nothing for an advisory below the notification's
minimum severity."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from notifications import delivery, services
from notifications.models import Delivery, InboxMessage
from portal.access import Principal
from scanning import osv, store
from scanning import services as scan_services
from scanning import tasks as scan_tasks
from tests.factories import make_repository, make_user
from tests.scanning import images

pytestmark = pytest.mark.django_db


def test_a_new_advisory_for_an_old_image_arrives_once_and_not_below_the_minimum(
        client, django_capture_on_commit_callbacks, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(delivery, "send", lambda ids: None)   # the attempts are made below, in this process
    alice = make_user("alice")
    repository = make_repository("alice/app")
    services.create_notification(repository, Principal.for_user(alice), event="vulnerability_found",
                                 method="inapp", target_user=alice, filter={"min_severity": "high"})
    images.import_fixtures("DSA-5532-1")
    manifest = images.push_image(client, repository, [images.debian_base(), images.app_layer(),
                                                      images.cleanup_layer()], tag="v1")
    scan_services.queue(manifest.pk)
    assert scan_tasks.scan_manifest(manifest.pk) == "done"

    with django_capture_on_commit_callbacks(execute=True):   # the events go out after the import commits
        images.import_fixtures("GHSA-p6mc-m468-83gw", "GHSA-j8r2-6x86-q33q")   # high (lodash), medium (requests)
    for pending in Delivery.objects.all():
        delivery.attempt(pending.pk)

    (message,) = InboxMessage.objects.filter(user=alice)
    assert message.title == "alice/app: high CVE-2020-8203 in lodash 4.17.15"   # requests (medium) stays out
    payload = Delivery.objects.get().payload
    assert payload["vulnerability"]["severity"] == "high" and payload["image"]["digest"] == manifest.digest

    (lodash,) = osv.read(images.FIXTURES / "GHSA-p6mc-m468-83gw.json")
    with django_capture_on_commit_callbacks(execute=True):   # the same advisory again: no new finding
        store.import_records([replace(lodash, modified=lodash.modified + timedelta(days=1))])
    assert Delivery.objects.count() == 1
