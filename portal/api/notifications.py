"""Notifications: /api/v1/repositories/{namespace}/{name}/notifications/… (repository admins; an API token needs
repo:admin; to readers and writers 403, to people who may not see a private repository 404), and the caller's
inbox: /api/v1/user/inbox/.

A webhook's secret is in the answer that creates it and never again. The rules live in notifications.services;
this module turns requests into its calls."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from notifications import services
from notifications.models import Delivery, Notification
from portal.access import Role
from portal.accounts.models import User
from portal.api import notification_serializers as ns
from portal.api.base import ApiView, validated
from portal.api.permissions import caller, repository_for, require_person
from portal.client_address import client_ip
from portal.errors import NotFound
from portal.repositories.models import Repository

TAGS = ["notifications"]
NOTIFICATION_ID = OpenApiParameter("notification_id", int, OpenApiParameter.PATH)
DELIVERY_ID = OpenApiParameter("delivery_id", int, OpenApiParameter.PATH)
QUEUED = {202: OpenApiResponse(ns.NotificationDeliverySerializer,
                               description="Queued: its attempt shows in the delivery log."),
          409: OpenApiResponse(description="The notification is disabled, or its e-mail address is unconfirmed.")}
SEE = "see this repository's notifications"
CHANGE = "change this repository's notifications"


def _admin_repository(request: Request, namespace: str, name: str, what: str) -> Repository:
    repository, _ = repository_for(request, namespace, name, Role.ADMIN, what)
    return repository


def notification_for(request: Request, namespace: str, name: str, notification_id: str, what: str) -> Notification:
    repository = _admin_repository(request, namespace, name, what)
    found = (Notification.objects.select_related("repository", "target_user", "target_team")
             .filter(pk=int(notification_id), repository=repository).first())
    if found is None:
        raise NotFound(f"{repository.full_name} has no notification {notification_id}.")
    return found


def _shown(notification: Notification) -> Any:
    return ns.NotificationSerializer(notification).data


def _targets(data: dict[str, Any], repository: Repository) -> dict[str, Any]:
    """The request's target_user / target_team names as the user and team they name (Invalid otherwise)."""
    changes = dict(data)
    named = services.targets_named(repository, changes.get("target_user"), changes.get("target_team"))
    changes.update({key: value for key, value in named.items() if key in changes})
    return changes


class NotificationList(ApiView):
    @extend_schema(tags=TAGS, responses=ns.NotificationSerializer(many=True))
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The repository's notifications (repository admins)."""
        repository = _admin_repository(request, namespace, name, SEE)
        found = Notification.objects.filter(repository=repository).select_related(
            "repository", "target_user", "target_team")
        return self.paginated(found.order_by("id"), ns.NotificationSerializer)

    @extend_schema(tags=TAGS, request=ns.NotificationCreateSerializer,
                   responses={201: ns.NotificationCreatedSerializer})
    def post(self, request: Request, namespace: str, name: str) -> Response:
        """Create a notification (repository admins). A webhook's signing secret is in this answer only; an
        e-mail address is mailed a confirmation link first."""
        repository = _admin_repository(request, namespace, name, CHANGE)
        data = _targets(validated(ns.NotificationCreateSerializer, request), repository)
        created = services.create_notification(
            repository, caller(request), event=data["event"], method=data["method"],
            target=data.get("target", ""), filter=data.get("filter"), title=data.get("title", ""),
            target_user=data.get("target_user"), target_team=data.get("target_team"), client_ip=client_ip(request))
        return Response({**_shown(created.notification), "secret": created.secret}, status=status.HTTP_201_CREATED)


class NotificationDetail(ApiView):
    @extend_schema(tags=TAGS, responses=ns.NotificationSerializer, parameters=[NOTIFICATION_ID])
    def get(self, request: Request, namespace: str, name: str, notification_id: str) -> Response:
        return Response(_shown(notification_for(request, namespace, name, notification_id, SEE)))

    @extend_schema(tags=TAGS, request=ns.NotificationUpdateSerializer, responses=ns.NotificationSerializer,
                   parameters=[NOTIFICATION_ID])
    def patch(self, request: Request, namespace: str, name: str, notification_id: str) -> Response:
        """Change its title, filter, target or enabled; enabling it again clears its failures."""
        notification = notification_for(request, namespace, name, notification_id, CHANGE)
        changes = _targets(validated(ns.NotificationUpdateSerializer, request, partial=True),
                           notification.repository)
        notification = services.update_notification(notification, caller(request), changes, client_ip(request))
        return Response(_shown(notification))

    @extend_schema(tags=TAGS, responses={204: OpenApiResponse(description="Deleted, with its delivery log.")},
                   parameters=[NOTIFICATION_ID])
    def delete(self, request: Request, namespace: str, name: str, notification_id: str) -> Response:
        notification = notification_for(request, namespace, name, notification_id, CHANGE)
        services.delete_notification(notification, caller(request), client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationTest(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=QUEUED, parameters=[NOTIFICATION_ID])
    def post(self, request: Request, namespace: str, name: str, notification_id: str) -> Response:
        """Send an example of the notification's event ("test": true), one attempt, now."""
        notification = notification_for(request, namespace, name, notification_id, CHANGE)
        sent = services.send_test(notification, caller(request), client_ip(request))
        return Response(ns.NotificationDeliverySerializer(_with_log(sent)).data, status=status.HTTP_202_ACCEPTED)


class NotificationDeliveries(ApiView):
    @extend_schema(tags=TAGS, responses=ns.NotificationDeliverySerializer(many=True), parameters=[NOTIFICATION_ID])
    def get(self, request: Request, namespace: str, name: str, notification_id: str) -> Response:
        """The delivery log, newest first, each delivery with its attempts."""
        notification = notification_for(request, namespace, name, notification_id, SEE)
        return self.paginated(services.deliveries(notification), ns.NotificationDeliverySerializer)


class DeliveryRedeliver(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=QUEUED, parameters=[DELIVERY_ID])
    def post(self, request: Request, namespace: str, name: str, delivery_id: str) -> Response:
        """The same payload again as a new delivery (a new X-Wharf-Delivery id), with its own retries."""
        repository = _admin_repository(request, namespace, name, CHANGE)
        original = (Delivery.objects.select_related("notification__repository")
                    .filter(pk=int(delivery_id), notification__repository=repository).first())
        if original is None:
            raise NotFound(f"{repository.full_name} has no notification delivery {delivery_id}.")
        again = services.redeliver(original, caller(request), client_ip(request))
        return Response(ns.NotificationDeliverySerializer(_with_log(again)).data, status=status.HTTP_202_ACCEPTED)


def _with_log(delivery: Delivery) -> Delivery:
    return Delivery.objects.prefetch_related("attempt_log").get(pk=delivery.pk)


# --- The inbox --------------------------------------------------------------------------------------------------

def _reader(request: Request) -> User:
    principal = require_person(request, "read your inbox", "repo:read")
    assert principal.user_id is not None   # a person
    return User.objects.get(pk=principal.user_id)


class Inbox(ApiView):
    @extend_schema(tags=["user"], responses=ns.InboxMessageSerializer(many=True), parameters=[
        OpenApiParameter("unread", bool, description="Only the messages not read yet.")])
    def get(self, request: Request) -> Response:
        """The caller's in-app notifications, newest first."""
        messages = services.inbox(_reader(request)).select_related("notification__repository")
        if request.query_params.get("unread") in ("1", "true", "yes"):
            messages = messages.filter(read_at__isnull=True)
        return self.paginated(messages, ns.InboxMessageSerializer)


class InboxRead(ApiView):
    @extend_schema(tags=["user"], request=ns.MarkReadSerializer, responses=ns.MarkedSerializer)
    def post(self, request: Request) -> Response:
        """Mark messages read: those named by `ids`, or all of them."""
        user = _reader(request)
        data = validated(ns.MarkReadSerializer, request)
        marked = services.mark_read(user, data.get("ids"))
        return Response({"marked": marked, "unread": services.unread_count(user)})
