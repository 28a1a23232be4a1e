"""Celery tasks of notifications, all on the `default` queue: one attempt at a delivery, the beat job that
sends due retries, the tag-expiry announcements and the e-mail confirmations.

Tasks take ids and claim their rows (delivery.claim), so a message delivered twice makes one attempt."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications import delivery, events
from notifications.models import EmailConfirmation, ExpiryAnnouncement, Notification
from portal.broker import enqueue

log = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def fan_out(kind: str, values: dict[str, Any], repository_id: int) -> list[int]:
    """An event a request handed over (notifications.later): its deliveries written and sent. A message
    delivered twice writes them twice; receivers tell a repeat by X-Wharf-Delivery's event and time."""
    from notifications import delivery, later

    return delivery.fan_out(later.decode(kind, values), repository_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def deliver(delivery_id: int) -> None:
    """One attempt at a delivery that is due; nothing when it is not (done, not yet due, or another worker's)."""
    delivery.attempt(delivery_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deliver_each(delivery_ids: list[int]) -> None:
    """One event's deliveries, each to the queue as an attempt of its own (delivery.send)."""
    for delivery_id in delivery_ids:
        enqueue(deliver, delivery_id)


@shared_task(soft_time_limit=60, time_limit=90)
def send_due(now: datetime | None = None) -> int:
    """Send every delivery whose next attempt is due to the queue (every 30 s, from beat): the retries, and
    first attempts the broker refused when the event happened."""
    ids = delivery.due(now or timezone.now())
    for delivery_id in ids:
        enqueue(deliver, delivery_id)
    return len(ids)


@shared_task(soft_time_limit=300, time_limit=330)
def announce_expiring_tags(now: datetime | None = None) -> int:
    """tag_expiring for each tag whose expiry falls within WHARF_NOTIFY_EXPIRY_DAYS, once per (tag, expiry),
    in the repositories that have a notification on it; announcements of expiries past are forgotten."""
    from registry_api.models import Tag

    now = now or timezone.now()
    horizon = now + timedelta(days=settings.WHARF_NOTIFY_EXPIRY_DAYS)
    ExpiryAnnouncement.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    watched = Notification.objects.filter(event=events.TAG_EXPIRING, enabled=True).values("repository_id")
    tags = (Tag.objects.filter(repository_id__in=watched, expires_at__gt=now, expires_at__lte=horizon)
            .values_list("repository_id", "repository__full_name", "name", "manifest__digest", "expires_at"))
    sent = 0
    for repository_id, full_name, name, digest, expires_at in tags.iterator():
        assert expires_at is not None   # the filter above
        try:
            with transaction.atomic():
                ExpiryAnnouncement.objects.create(repository_id=repository_id, tag=name, expires_at=expires_at)
                delivery.fan_out(events.TagExpiring(repository=full_name, occurred_at=now, tag=name, digest=digest,
                                                    expires_at=expires_at), repository_id)
        except IntegrityError:
            continue   # announced already for this expiry
        sent += 1
    return sent


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def send_confirmation(confirmation_id: int) -> None:
    """Mail the link that confirms an e-mail notification's address."""
    from notifications.services import confirmation_url

    confirmation = EmailConfirmation.objects.select_related("notification__repository").filter(
        pk=confirmation_id, confirmed_at__isnull=True).first()
    if confirmation is None:
        return
    notification = confirmation.notification
    body = (f"Someone asked Wharf to mail {notification.event} events of {notification.repository.full_name} "
            f"to this address.\n\nTo confirm, open:\n{confirmation_url(confirmation.token)}\n\n"
            "If that was not you, ignore this mail; nothing will be sent.\n")
    send_mail("Confirm Wharf notifications", body, None, [confirmation.address],
              connection=get_connection(timeout=settings.WHARF_NOTIFY_TIMEOUT))
