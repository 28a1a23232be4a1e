"""Notifications on a repository ("when X happens, tell Y"), their deliveries with one row per attempt (the
delivery log), the in-app inbox, e-mail confirmations and the tag-expiry announcements already made."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from notifications import events

REPOSITORY = "repositories.Repository"


class Method(models.TextChoices):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SLACK = "slack"
    INAPP = "inapp"


class Notification(models.Model):
    """`filter` narrows the event: {"tag_glob"|"tag_regex"} for pushes and expiring tags, {"trigger_id",
    "branch_regex"} for builds, {"min_severity"} for vulnerabilities (notifications.filters checks them)."""

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=30, choices=[(e, e) for e in events.EVENTS])
    filter = models.JSONField(default=dict, blank=True)
    method = models.CharField(max_length=10, choices=Method.choices)
    title = models.CharField(max_length=200, blank=True)
    target = models.CharField(max_length=2000, blank=True)    # the webhook's or Slack's URL, or the e-mail address
    target_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")          # in-app: one user ...
    target_team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")          # ... or a team's members
    secret_encrypted = models.TextField(blank=True)           # a webhook's HMAC key (portal.secretbox)
    enabled = models.BooleanField(default=True)
    failing_since = models.DateTimeField(null=True, blank=True)   # the first failed attempt since the last success
    consecutive_failures = models.PositiveIntegerField(default=0)  # deliveries that failed for good, in a row
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["repository", "event"], name="notification_lookup")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.method} {self.target}"


class Status(models.TextChoices):
    PENDING = "pending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN = (Status.PENDING, Status.RETRYING)


class Delivery(models.Model):
    """One event for one notification. `next_attempt_at` is also the lease: a worker claims a due delivery by
    moving it forward past its time limit, so a worker that dies mid-attempt leaves it due again later."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=30)
    payload = models.JSONField()
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True)    # X-Wharf-Delivery
    test = models.BooleanField(default=False)        # "send test notification": one attempt, counts for nothing
    redelivery_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)   # the first KiB of the last answer
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at"], name="delivery_due",
                                condition=models.Q(status__in=["pending", "retrying"])),
                   models.Index(fields=["notification", "-created_at"], name="delivery_log")]
        ordering = ["-created_at", "-id"]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_once")]


class InboxMessage(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox")
    notification = models.ForeignKey(Notification, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    event = models.CharField(max_length=30)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="inbox_recent"),
                   models.Index(fields=["user"], name="inbox_unread", condition=models.Q(read_at__isnull=True))]
        ordering = ["-created_at", "-id"]


class EmailConfirmation(models.Model):
    """An e-mail notification's address, confirmed by the link mailed to it before anything else is sent
    there: per notification, so that one repository's admin cannot mail an address another confirmed."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="confirmations")
    address = models.EmailField(max_length=254)
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)


class ExpiryAnnouncement(models.Model):
    """tag_expiring sent once per (tag, expiry): a tag whose expiry moves is announced again."""

    repository = models.ForeignKey(REPOSITORY, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=128)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "tag", "expires_at"], name="announce_once")]
