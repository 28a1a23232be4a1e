"""Getting an event to where its notifications say: Delivery rows written when the event happens (after the
change that caused it has committed), then one attempt at a time in Celery.

Retries: a failed attempt puts the delivery back with `next_attempt_at` (exponential backoff with jitter,
BACKOFF, about a day in all over WHARF_NOTIFY_ATTEMPTS attempts). The first attempt is sent to the queue at
once; later ones are sent by a beat job (`send_due`, every 30 s) that claims what is due, so nothing depends
on a message sitting in the broker for hours, and a worker that died mid-attempt leaves its delivery due again
once the lease (next_attempt_at moved past the attempt's time) runs out. The clock is a parameter (`now`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from notifications import events, filters, net
from notifications.models import OPEN, Delivery, DeliveryAttempt, InboxMessage, Method, Notification, Status
from portal import secretbox
from portal.broker import enqueue

log = logging.getLogger(__name__)

SECRET_PURPOSE = b"wharf notifications: webhook secrets at rest"
# Seconds before attempt 2, 3, ...: 30 s, 2 min, 8 min, 30 min, 1 h, 2 h, 4 h, 6 h, 6 h (about 20 h over ten).
BACKOFF = (30, 120, 480, 1800, 3600, 7200, 14400, 21600, 21600)
JITTER = 0.2      # each delay is moved by up to ±20 %, so that a receiver back from an outage is not stampeded
LEASE = 120       # seconds a claimed attempt has (more than the timeout) before another worker may take it


# --- Fan-out ----------------------------------------------------------------------------------------------------

def fan_out(event: events.Event, repository_id: int) -> list[int]:
    """One pending Delivery per enabled notification of the repository on this event that its filter lets
    through (e-mail only to a confirmed address); the first attempts are sent once they have committed."""
    payload = event.to_payload()
    candidates = Notification.objects.filter(repository_id=repository_id, event=payload["event"], enabled=True)
    chosen = [n for n in candidates if filters.matches(n.filter, payload) and deliverable(n)]
    if not chosen:
        return []
    now = timezone.now()
    rows = Delivery.objects.bulk_create([
        Delivery(notification=n, event=payload["event"], payload=payload, next_attempt_at=now) for n in chosen])
    ids = [row.pk for row in rows if row.pk is not None] or list(
        Delivery.objects.filter(delivery_id__in=[r.delivery_id for r in rows]).values_list("pk", flat=True))
    transaction.on_commit(lambda: send(ids))
    return ids


def deliverable(notification: Notification) -> bool:
    if notification.method != Method.EMAIL:
        return True
    return notification.confirmations.filter(address=notification.target, confirmed_at__isnull=False).exists()


def send(delivery_ids: Iterable[int]) -> None:
    """The deliveries' attempts onto the `default` queue; one the broker refuses is sent by send_due later.

    One message per event, whatever the number of notifications: a push with ten pays for one broker send
    (about 1 ms each on the embedded broker; bench/notifybench.py), and a worker fans it out to one message
    per delivery, so a slow receiver still holds up only its own."""
    ids = list(delivery_ids)   # the tasks by name: notifications.tasks imports this module
    if len(ids) == 1:
        enqueue("notifications.tasks.deliver", ids[0])
    elif ids:
        enqueue("notifications.tasks.deliver_each", ids)


# --- One attempt ----------------------------------------------------------------------------------------------

def claim(delivery_id: int, now: datetime) -> Delivery | None:
    """The delivery, if it is open and due and this caller won it (one UPDATE: of two workers one wins)."""
    won = Delivery.objects.filter(pk=delivery_id, status__in=OPEN, next_attempt_at__lte=now).update(
        next_attempt_at=now + timedelta(seconds=LEASE + settings.WHARF_NOTIFY_TIMEOUT))
    if not won:
        return None
    return Delivery.objects.select_related("notification", "notification__repository").get(pk=delivery_id)


def attempt(delivery_id: int, now: datetime | None = None, rng: random.Random | None = None) -> Delivery | None:
    """Make one attempt at a delivery that is due; None when there was nothing to do (done, not due, or
    claimed by another worker)."""
    now = now or timezone.now()
    delivery = claim(delivery_id, now)
    if delivery is None:
        return None
    number = delivery.attempts + 1
    started = time.monotonic()
    status_code, excerpt, error = _send(delivery, now)
    duration = int((time.monotonic() - started) * 1000)
    ok = error == ""
    DeliveryAttempt.objects.create(delivery=delivery, number=number, started_at=now, status_code=status_code,
                                   duration_ms=duration, response_excerpt=excerpt, error=error[:500])
    delivery.attempts, delivery.last_status_code, delivery.duration_ms = number, status_code, duration
    delivery.response_excerpt, delivery.error = excerpt, error[:500]
    last = delivery.test or number >= settings.WHARF_NOTIFY_ATTEMPTS
    if ok:
        delivery.status, delivery.next_attempt_at = Status.SUCCEEDED, None
    elif last:
        delivery.status, delivery.next_attempt_at = Status.FAILED, None
    else:
        delivery.status, delivery.next_attempt_at = Status.RETRYING, now + backoff(number, rng)
    delivery.save(update_fields=["attempts", "last_status_code", "duration_ms", "response_excerpt", "error",
                                 "status", "next_attempt_at", "updated_at"])
    if not delivery.test:
        _account(delivery.notification, ok, last, now)
    return delivery


def backoff(attempts_made: int, rng: random.Random | None = None) -> timedelta:
    """The wait before the next attempt after `attempts_made` attempts, jittered."""
    base = BACKOFF[min(attempts_made, len(BACKOFF)) - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * factor)


def _send(delivery: Delivery, now: datetime) -> tuple[int | None, str, str]:
    """(HTTP status code or None, first KiB of the answer, error or "" for a success)."""
    notification = delivery.notification
    try:
        if notification.method == Method.WEBHOOK:
            answer = webhook(notification, delivery, now)
        elif notification.method == Method.SLACK:
            answer = slack(notification, delivery.payload)
        elif notification.method == Method.EMAIL:
            email(notification, delivery.payload)
            return None, "", ""
        else:
            inbox(notification, delivery.payload)
            return None, "", ""
    except net.Refused as exc:
        return None, "", f"refused: {exc}"
    except TimeoutError:
        return None, "", f"timed out after {settings.WHARF_NOTIFY_TIMEOUT} s"
    except Exception as exc:   # noqa: BLE001 (any failure to reach a receiver is that attempt's failure)
        return None, "", f"{type(exc).__name__}: {exc}"
    error = "" if 200 <= answer.status < 300 else f"answered {answer.status}"
    return answer.status, answer.excerpt, error


def _account(notification: Notification, ok: bool, last: bool, now: datetime) -> None:
    """Success clears the failure count; a delivery that failed for good counts one, and at
    WHARF_NOTIFY_FAILURES_TO_DISABLE in a row the notification is disabled, saying why, and its repository's
    admins are told in their inbox."""
    rows = Notification.objects.filter(pk=notification.pk)
    if ok:
        rows.update(failing_since=None, consecutive_failures=0)
        return
    rows.filter(failing_since__isnull=True).update(failing_since=now)
    if not last:
        return
    rows.update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WHARF_NOTIFY_FAILURES_TO_DISABLE
    reason = f"Disabled after {limit} failed deliveries in a row; fix the receiver and enable it again."
    if rows.filter(enabled=True, consecutive_failures__gte=limit).update(enabled=False, disabled_reason=reason):
        Delivery.objects.filter(notification=notification, status__in=OPEN).update(
            status=Status.FAILED, next_attempt_at=None, error="the notification was disabled")
        tell_admins(notification, reason)


def tell_admins(notification: Notification, reason: str) -> None:
    from notifications.people import repository_admins

    repository = notification.repository
    url = events.repository_url(repository.full_name) + "settings/"
    title = f"{repository.full_name}: the {notification.method} notification on {notification.event} was disabled"
    InboxMessage.objects.bulk_create([
        InboxMessage(user=user, notification=notification, event="notification_disabled", title=title,
                     body=f"{reason}\nTarget: {notification.target or notification.method}", url=url)
        for user in repository_admins(repository)])


# --- The methods ----------------------------------------------------------------------------------------------

def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Wharf-Signature-256 value: HMAC-SHA256 of "<timestamp>.<body>" under the webhook's secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook(notification: Notification, delivery: Delivery, now: datetime) -> net.Answer:
    body = body_of(delivery.payload)
    timestamp = int(now.timestamp())
    secret = secretbox.decrypt(notification.secret_encrypted, SECRET_PURPOSE) if notification.secret_encrypted else ""
    headers = {"Content-Type": "application/json", "User-Agent": "Wharf-Notifications/1",
               "X-Wharf-Event": delivery.event, "X-Wharf-Delivery": str(delivery.delivery_id),
               "X-Wharf-Timestamp": str(timestamp), "X-Wharf-Signature-256": sign(secret, timestamp, body)}
    return net.post(notification.target, body, headers, settings.WHARF_NOTIFY_TIMEOUT)


def slack(notification: Notification, payload: dict[str, Any]) -> net.Answer:
    title, text = events.describe(payload)
    message = f"*{title}*\n{text}\n<{payload['url']}|Open in Wharf>".replace("\n\n", "\n")
    body = json.dumps({"text": message}).encode()
    return net.post(notification.target, body, {"Content-Type": "application/json"},
                    settings.WHARF_NOTIFY_TIMEOUT)


def email(notification: Notification, payload: dict[str, Any]) -> None:
    """Mail the event (Django's mail, settings EMAIL_*)."""
    if not deliverable(notification):
        raise net.Refused(f"{notification.target} has not confirmed that it wants these mails")
    title, text = events.describe(payload)
    connection = get_connection(timeout=settings.WHARF_NOTIFY_TIMEOUT)
    send_mail(title, f"{text}\n\n{payload['url']}\n", None, [notification.target], connection=connection)


def inbox(notification: Notification, payload: dict[str, Any]) -> int:
    """An inbox message for the notification's user, or for each member of its team, as far as each may read
    the repository now (a team's members change; a private repository's events reach only its readers)."""
    from portal.access import Principal, Role, repository_role

    title, text = events.describe(payload)
    if notification.target_team_id is not None:
        users = list(notification.target_team.members.filter(is_active=True))   # type: ignore[union-attr]
    else:
        users = [notification.target_user] if notification.target_user is not None else []
    repository = notification.repository
    users = [user for user in users
             if repository_role(Principal.for_user(user), repository, repository.full_name) >= Role.READ]
    InboxMessage.objects.bulk_create([
        InboxMessage(user=user, notification=notification, event=payload["event"], title=title[:300], body=text,
                     url=payload["url"]) for user in users])
    return len(users)


# --- Due deliveries -------------------------------------------------------------------------------------------

def due(now: datetime, limit: int = 500) -> list[int]:
    """Open deliveries whose next attempt is due (the beat job sends them to the queue)."""
    return list(Delivery.objects.filter(status__in=OPEN, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
