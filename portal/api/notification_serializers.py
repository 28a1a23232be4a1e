"""The JSON of notifications, their delivery log and the inbox (portal.api.notifications)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications import events
from notifications.models import Method, Status

EVENT_CHOICES = list(events.EVENTS)
FILTER_HELP = ('What narrows the event: {"tag_glob"} or {"tag_regex"} for repo_push and tag_expiring; {"trigger_id"} '
               'or {"branch_regex"} for build_*; {"min_severity"} for vulnerability_found. {} lets everything through.')
TARGET_HELP = ("The webhook's or Slack's URL, or the e-mail address (confirmed by a link mailed to it before "
               "anything else is sent there). In-app notifications name target_user or target_team instead.")


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    repository = serializers.CharField(source="repository.full_name")
    event = serializers.ChoiceField(choices=EVENT_CHOICES)
    method = serializers.ChoiceField(choices=Method.choices)
    title = serializers.CharField()
    target = serializers.CharField(help_text="The URL, the address, or whom an in-app notification goes to.")
    target_user = serializers.SerializerMethodField()
    target_team = serializers.SerializerMethodField()
    filter = serializers.JSONField()
    enabled = serializers.BooleanField()
    failing_since = serializers.DateTimeField(allow_null=True,
                                              help_text="The first failed attempt since the last success.")
    consecutive_failures = serializers.IntegerField(help_text="Deliveries in a row that failed for good.")
    disabled_reason = serializers.CharField(help_text="Why Wharf disabled it ('' when it did not).")
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_target_user(self, notification: Any) -> str | None:
        return notification.target_user.username if notification.target_user_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_target_team(self, notification: Any) -> str | None:
        return notification.target_team.name if notification.target_team_id else None


class NotificationCreatedSerializer(NotificationSerializer):
    secret = serializers.CharField(help_text="A webhook's signing secret (X-Wharf-Signature-256): shown only in "
                                             "this response. '' for the other methods.")


class NotificationUpdateSerializer(serializers.Serializer):
    """Absent keys keep their values."""

    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    filter = serializers.JSONField(required=False, allow_null=True, help_text=FILTER_HELP)
    target = serializers.CharField(required=False, allow_blank=True, max_length=2000, help_text=TARGET_HELP)
    target_user = serializers.CharField(required=False, allow_null=True, max_length=150,
                                        help_text="in-app: the user who gets it.")
    target_team = serializers.CharField(required=False, allow_null=True, max_length=255,
                                        help_text="in-app: the team (of the repository's organization) whose "
                                                  "members get it.")
    enabled = serializers.BooleanField(required=False, help_text="Enabling it again clears its failures.")


class NotificationCreateSerializer(NotificationUpdateSerializer):
    event = serializers.ChoiceField(choices=EVENT_CHOICES)
    method = serializers.ChoiceField(choices=Method.choices)


class DeliveryAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, help_text="The receiver's answer; null for none.")
    duration_ms = serializers.IntegerField()
    response_excerpt = serializers.CharField(help_text="The first KiB of the answer.")
    error = serializers.CharField(help_text="'' for a success.")


class NotificationDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    delivery_id = serializers.UUIDField(help_text="X-Wharf-Delivery: new for each delivery, redeliveries too.")
    event = serializers.CharField()
    test = serializers.BooleanField(help_text="Sent by 'send test notification' (one attempt).")
    redelivery_of = serializers.IntegerField(source="redelivery_of_id", allow_null=True)
    status = serializers.ChoiceField(choices=Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField()
    error = serializers.CharField()
    payload = serializers.JSONField(help_text="The event's JSON, as a webhook gets it.")
    created_at = serializers.DateTimeField()
    attempt_log = DeliveryAttemptSerializer(many=True)


class InboxMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    url = serializers.CharField()
    repository = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_repository(self, message: Any) -> str | None:
        notification = message.notification
        return notification.repository.full_name if notification is not None else None


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, allow_null=True, max_length=1000,
                                help_text="The messages to mark read; absent or null: all of them.")


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many messages were unread and are read now.")
    unread = serializers.IntegerField(help_text="How many are still unread.")
