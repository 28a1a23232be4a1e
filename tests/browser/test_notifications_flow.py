"""Issue 15's page flow in Chromium: a repository admin creates a webhook notification pointing at a receiver on
loopback (the secret shown once), sends a test notification, sees the delivery in the log, and redelivers it.

A live server of its own, allowed to send to loopback (WHARF_NOTIFY_ALLOW_PRIVATE: the session's live server
refuses such URLs, as a deployment does). The attempts are made by the delivery task called in the test process
(notifications.tasks.deliver, what a worker runs for the message the live server queued): the worker's own part,
retries and the broker, are tested in tests/notifications."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from notifications import tasks
from notifications.models import Delivery, Notification
from tests.browser.conftest import sign_in
from tests.conftest import run_live_server
from tests.factories import make_repository, make_user
from tests.notifications.standins import receiver, verify

pytestmark = pytest.mark.django_db(transaction=True)


def _deliver_the_newest(notification: Notification) -> Delivery:
    """What the worker does with the message the live server queued: one attempt, in this process."""
    newest = Delivery.objects.filter(notification=notification).order_by("-id").first()
    assert newest is not None
    tasks.deliver(newest.pk)
    newest.refresh_from_db()
    return newest


def test_a_webhook_notification_is_created_tested_logged_and_redelivered(browser: Any, settings_allow: None,
                                                                          storage: Any) -> None:
    make_user("alice")
    make_repository("alice/app")
    server = run_live_server({"WHARF_NOTIFY_ALLOW_PRIVATE": "1",
                              "WHARF_BROKER_DIR": str(settings.DATA_DIR / "broker")},
                             log_name="live-server-notifications.log")
    live = next(server)
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        with receiver(200, 200) as hook:
            sign_in(page, "alice")
            page.goto("/repository/alice/app/settings/")
            page.get_by_test_id("notifications-link").click()
            page.wait_for_url(re.compile(r"/repository/alice/app/notifications/$"))
            form = page.get_by_test_id("notification-form")
            form.get_by_label("Event").select_option("repo_push")
            form.get_by_label("Method").select_option("webhook")
            form.get_by_label("URL or e-mail address").fill(hook.url)
            form.get_by_label("Tag pattern").fill("v*")
            page.get_by_test_id("create-notification").click()

            secret = page.get_by_test_id("secret").inner_text()
            assert len(secret) == 64
            page.get_by_test_id("done").click()
            page.wait_for_url(re.compile(r"/notifications/\d+/$"))
            expect(page.get_by_test_id("target")).to_have_text(hook.url)
            expect(page.get_by_text(secret)).to_have_count(0)
            notification = Notification.objects.get(repository__full_name="alice/app")

            page.get_by_test_id("send-test").click()
            expect(page.get_by_role("status")).to_contain_text("Sent a test notification")
            first = _deliver_the_newest(notification)
            page.reload()
            log = page.get_by_test_id("deliveries")
            expect(log.get_by_test_id("status-code")).to_have_text("200")
            expect(log).to_contain_text("answer 200")
            expect(log).to_contain_text(str(first.delivery_id))

            log.get_by_test_id("redeliver").click()
            expect(page.get_by_role("status")).to_contain_text("Queued the redelivery")
            again = _deliver_the_newest(notification)
            page.reload()
            expect(page.get_by_test_id("deliveries").get_by_test_id("status-code")).to_have_count(2)
            expect(page.get_by_test_id("deliveries")).to_contain_text("redelivery")

        assert again.redelivery_of_id == first.pk and again.status == first.status == "succeeded"
        seen: set[str] = set()
        assert [verify(secret, r.headers, r.body, seen) for r in hook.received] == ["ok", "ok"]
        assert [r.json()["test"] for r in hook.received] == [True, True]
    finally:
        context.close()
        next(server, None)


@pytest.fixture
def settings_allow(settings: Any) -> None:
    """The test process makes the attempts: it too may send to the loopback receiver."""
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True
