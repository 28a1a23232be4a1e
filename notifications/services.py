"""The rules for notifications: making, changing and removing them (a webhook's secret shown once, an
e-mail address confirmed before anything is sent to it), "send test notification", redelivery, and the inbox.

Callers check who may do what first (`may_manage`: the repository's admins; readers see nothing of it), as
the other services' callers do; the services take the principal and client_ip for the audit log."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications import delivery, events, filters, later, net
from notifications.models import (
    OPEN,
    Delivery,
    EmailConfirmation,
    InboxMessage,
    Method,
    Notification,
    Status,
)
from portal import audit, secretbox
from portal.access import Principal, Role, repository_role
from portal.accounts.models import Team, User
from portal.errors import Conflict, Invalid
from portal.repositories.models import Repository

EDITABLE = ("title", "filter", "target", "target_user", "target_team", "enabled")


@dataclass(frozen=True)
class Created:
    notification: Notification
    secret: str    # a webhook's signing secret, shown this once; "" for the other methods


def may_manage(principal: Principal | None, repository: Repository) -> bool:
    return repository_role(principal, repository, repository.full_name) >= Role.ADMIN


# --- Making and changing ----------------------------------------------------------------------------------------

def create_notification(repository: Repository, principal: Principal, *, event: str, method: str, target: str = "",
                        filter: Any = None, title: str = "", target_user: User | None = None,
                        target_team: Team | None = None, client_ip: str | None = None) -> Created:
    """A new notification; a webhook gets a new secret (returned once), an e-mail a confirmation link mailed
    to its address (nothing else is sent there until it is followed)."""
    if event not in events.EVENTS:
        raise Invalid(f"Unknown event; one of {', '.join(events.EVENTS)}.", "event")
    if method not in Method.values:
        raise Invalid(f"Unknown method; one of {', '.join(Method.values)}.", "method")
    notification = Notification(repository=repository, event=event, method=method, title=title[:200],
                                created_by_id=principal.user_id)
    _apply(notification, {"filter": filter, "target": target, "target_user": target_user,
                          "target_team": target_team})
    secret = ""
    if method == Method.WEBHOOK:
        secret = secrets.token_hex(32)
        notification.secret_encrypted = secretbox.encrypt(secret, delivery.SECRET_PURPOSE)
    with transaction.atomic():
        notification.save()
        _confirm_if_email(notification)
        later.forget(repository.pk)
        audit.record("notification_create", principal, client_ip=client_ip, repository=repository,
                     target=f"{event} → {method}")
    return Created(notification, secret)


def update_notification(notification: Notification, principal: Principal, changes: dict[str, Any],
                        client_ip: str | None = None) -> Notification:
    """Change what EDITABLE names; enabling a disabled notification clears its failures; a new e-mail address
    is confirmed again."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(f"{sorted(unknown)[0]} cannot be changed.", sorted(unknown)[0])
    old_target = notification.target
    _apply(notification, {"filter": notification.filter, "target": notification.target,
                          "target_user": notification.target_user, "target_team": notification.target_team,
                          **changes})
    if "title" in changes:
        notification.title = str(changes["title"] or "")[:200]
    if "enabled" in changes:
        notification.enabled = bool(changes["enabled"])
        if notification.enabled:
            notification.disabled_reason, notification.consecutive_failures = "", 0
            notification.failing_since = None
    with transaction.atomic():
        notification.save()
        if notification.target != old_target:
            _confirm_if_email(notification)
        later.forget(notification.repository_id)
        audit.record("notification_change", principal, client_ip=client_ip, repository=notification.repository,
                     target=f"{notification.event} → {notification.method}")
    return notification


def delete_notification(notification: Notification, principal: Principal, client_ip: str | None = None) -> None:
    later.forget(notification.repository_id)
    audit.record("notification_delete", principal, client_ip=client_ip, repository=notification.repository,
                 target=f"{notification.event} → {notification.method}")
    notification.delete()


def targets_named(repository: Repository, username: str | None, team_name: str | None) -> dict[str, Any]:
    """An in-app notification's target_user and target_team from their names (None for a blank one); Invalid
    for a name that is not an active user who may read the repository, or not a team of its organization."""
    user = team = None
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise Invalid(f"There is no user named '{username}'.", "target_user")
        # Its messages describe the repository: only to someone who may read it.
        if repository_role(Principal.for_user(user), repository, repository.full_name) < Role.READ:
            raise Invalid(f"{username} may not read {repository.full_name}.", "target_user")
    if team_name:
        organization_id = repository.namespace.organization_id
        team = None if organization_id is None else Team.objects.filter(
            organization_id=organization_id, name=team_name).first()
        if team is None:
            raise Invalid(f"The repository's organization has no team named '{team_name}'.", "target_team")
    return {"target_user": user, "target_team": team}


def _apply(notification: Notification, values: dict[str, Any]) -> None:
    """Validate and set filter and target for the notification's event and method (Invalid otherwise)."""
    notification.filter = filters.validate(notification.event, values["filter"])
    target = str(values["target"] or "").strip()
    method = notification.method
    if method in (Method.WEBHOOK, Method.SLACK):
        try:
            net.check_url(target)
        except net.Refused as exc:
            raise Invalid(f"The URL is not usable: {exc}.", "target") from None
        if len(target) > 2000:
            raise Invalid("The URL is longer than 2000 characters.", "target")
    elif method == Method.EMAIL:
        from django.core.validators import validate_email

        try:
            validate_email(target)
        except Exception:   # noqa: BLE001 (ValidationError; its message is not one a person acts on)
            raise Invalid("Enter a valid e-mail address.", "target") from None
    else:
        user, team = values["target_user"], values["target_team"]
        if (user is None) == (team is None):
            raise Invalid("An in-app notification goes to one user or to one team.", "target")
        namespace = notification.repository.namespace
        if team is not None and team.organization_id != namespace.organization_id:
            raise Invalid("The team must be one of the repository's organization.", "target")
        notification.target_user, notification.target_team = user, team
        target = user.username if user is not None else f"team {team.name}"
    notification.target = target


def _confirm_if_email(notification: Notification) -> None:
    if notification.method != Method.EMAIL:
        return
    already = EmailConfirmation.objects.filter(notification=notification, address=notification.target,
                                               confirmed_at__isnull=False).exists()
    if already:
        return
    confirmation = EmailConfirmation.objects.create(notification=notification, address=notification.target,
                                                    token=secrets.token_urlsafe(32))
    transaction.on_commit(lambda: _send_confirmation(confirmation.pk))


def _send_confirmation(confirmation_id: int) -> None:
    from portal.broker import enqueue

    enqueue("notifications.tasks.send_confirmation", confirmation_id)   # by name: the tasks import this module


def confirmation_url(token: str) -> str:
    return f"{settings.WHARF_SITE_URL}/notifications/confirm/{token}/"


def confirm_email(token: str) -> EmailConfirmation | None:
    """Follow a confirmation link; None for a token that names nothing."""
    confirmation = EmailConfirmation.objects.select_related("notification").filter(token=token).first()
    if confirmation is None:
        return None
    if confirmation.confirmed_at is None:
        EmailConfirmation.objects.filter(pk=confirmation.pk).update(confirmed_at=timezone.now())
        confirmation.refresh_from_db()
    return confirmation


# --- Test, redeliver, the log ----------------------------------------------------------------------------------

def send_test(notification: Notification, principal: Principal, client_ip: str | None = None) -> Delivery:
    """An example of the notification's event (payload "test": true) sent now, one attempt, counting for nothing
    in the failure count; it shows in the delivery log. An e-mail address must be confirmed first."""
    if not delivery.deliverable(notification):
        raise Conflict("The e-mail address has not been confirmed yet; follow the link mailed to it first.")
    payload = events.example(notification.event, notification.repository.full_name).to_payload(test=True)
    return _queue(notification, payload, test=True)


def redeliver(original: Delivery, principal: Principal, client_ip: str | None = None) -> Delivery:
    """The same payload again, as a new delivery (a new X-Wharf-Delivery id) with its own retries."""
    notification = original.notification
    if not notification.enabled:
        raise Conflict("This notification is disabled; enable it before redelivering.")
    if not delivery.deliverable(notification):
        raise Conflict("The e-mail address has not been confirmed yet; follow the link mailed to it first.")
    return _queue(notification, original.payload, test=original.test, redelivery_of=original)


def _queue(notification: Notification, payload: dict[str, Any], test: bool,
           redelivery_of: Delivery | None = None) -> Delivery:
    with transaction.atomic():
        row = Delivery.objects.create(notification=notification, event=payload["event"], payload=payload,
                                      test=test, redelivery_of=redelivery_of, next_attempt_at=timezone.now())
        transaction.on_commit(lambda: delivery.send([row.pk]))
    return row


def deliveries(notification: Notification) -> QuerySet[Delivery]:
    """The delivery log, newest first, each with its attempts (prefetched: `attempt_log`)."""
    return notification.deliveries.prefetch_related("attempt_log").order_by("-created_at", "-id")


def open_deliveries(notification: Notification) -> int:
    return notification.deliveries.filter(status__in=OPEN).count()


def reveal_failures(notification: Notification) -> dict[str, Any]:
    """What a page says of a failing or disabled notification."""
    return {"enabled": notification.enabled, "failing_since": notification.failing_since,
            "consecutive_failures": notification.consecutive_failures, "reason": notification.disabled_reason,
            "last_failed": notification.deliveries.filter(status=Status.FAILED).order_by("-updated_at").first()}


# --- The inbox -------------------------------------------------------------------------------------------------

def inbox(user: User) -> QuerySet[InboxMessage]:
    return InboxMessage.objects.filter(user=user).order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return InboxMessage.objects.filter(user=user, read_at__isnull=True).count()


def mark_read(user: User, message_ids: list[int] | None = None) -> int:
    """Mark the user's messages read (all of them when no ids are given); how many changed."""
    messages = InboxMessage.objects.filter(user=user, read_at__isnull=True)
    if message_ids is not None:
        messages = messages.filter(pk__in=message_ids)
    return messages.update(read_at=timezone.now())
