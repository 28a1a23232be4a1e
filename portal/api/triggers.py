"""Build triggers: /api/v1/repositories/{namespace}/{name}/triggers/… (repository admins; an API token needs
repo:admin). The webhook secret is in the answer that makes it (creating the trigger, or asking for a new one)
and never again; the rules live in builds.triggers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from builds import triggers
from builds.models import Delivery, Trigger
from portal.access import Role
from portal.api import build_serializers as bs
from portal.api.base import ApiView, validated
from portal.api.permissions import caller, repository_for
from portal.client_address import client_ip
from portal.errors import NotFound

TAGS = ["build triggers"]
TRIGGER_ID = OpenApiParameter("trigger_id", int, OpenApiParameter.PATH)
DELETED = inline_serializer("TriggerDeleted", {
    "warnings": serializers.ListField(child=serializers.CharField(),
                                      help_text="What could not be removed on GitHub (remove it there).")})


def trigger_for(request: Request, namespace: str, name: str, trigger_id: str, what: str) -> Trigger:
    repository, _ = repository_for(request, namespace, name, Role.ADMIN, what)
    trigger = (Trigger.objects.select_related("repository", "created_by")
               .filter(pk=int(trigger_id), repository=repository).first())
    if trigger is None:
        raise NotFound(f"{repository.full_name} has no trigger {trigger_id}.")
    return trigger


def _shown(trigger: Trigger) -> Any:
    return bs.TriggerSerializer(trigger).data


class TriggerList(ApiView):
    @extend_schema(tags=TAGS, responses=bs.TriggerSerializer(many=True))
    def get(self, request: Request, namespace: str, name: str) -> Response:
        """The repository's build triggers (repository admins)."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "see this repository's build triggers")
        found = Trigger.objects.filter(repository=repository).select_related("repository", "created_by")
        return self.paginated(found.order_by("id"), bs.TriggerSerializer)

    @extend_schema(tags=TAGS, request=bs.TriggerCreateSerializer, responses={201: bs.TriggerCreatedSerializer})
    def post(self, request: Request, namespace: str, name: str) -> Response:
        """Create a trigger (repository admins who are people: its builds push in their name). A github trigger
        installs its webhook (and, for a private repository, a deploy key) on GitHub; a git trigger answers the
        webhook URL and secret to set up on the git host, and a deploy key to add there when asked for one."""
        repository, _ = repository_for(request, namespace, name, Role.ADMIN, "create build triggers here")
        data = validated(bs.TriggerCreateSerializer, request)
        created = triggers.create_trigger(repository, caller(request), dict(data), client_ip=client_ip(request))
        return Response({**_shown(created.trigger), "secret": created.secret}, status=status.HTTP_201_CREATED)


class TriggerDetail(ApiView):
    @extend_schema(tags=TAGS, responses=bs.TriggerSerializer, parameters=[TRIGGER_ID])
    def get(self, request: Request, namespace: str, name: str, trigger_id: str) -> Response:
        trigger = trigger_for(request, namespace, name, trigger_id, "see this repository's build triggers")
        return Response(_shown(trigger))

    @extend_schema(tags=TAGS, request=bs.TriggerUpdateSerializer, responses=bs.TriggerSerializer,
                   parameters=[TRIGGER_ID])
    def patch(self, request: Request, namespace: str, name: str, trigger_id: str) -> Response:
        """Change the trigger's settings; enabling it again clears its failure count (repository admins)."""
        trigger = trigger_for(request, namespace, name, trigger_id, "change this repository's build triggers")
        data = validated(bs.TriggerUpdateSerializer, request, partial=True)
        trigger = triggers.update_trigger(trigger, caller(request), dict(data), client_ip=client_ip(request))
        return Response(_shown(trigger))

    @extend_schema(tags=TAGS, responses=DELETED, parameters=[TRIGGER_ID])
    def delete(self, request: Request, namespace: str, name: str, trigger_id: str) -> Response:
        """Delete the trigger; its builds stay (repository admins)."""
        trigger = trigger_for(request, namespace, name, trigger_id, "delete this repository's build triggers")
        warnings = triggers.delete_trigger(trigger, caller(request), client_ip=client_ip(request))
        return Response({"warnings": warnings})


class TriggerSecret(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=bs.TriggerSecretSerializer, parameters=[TRIGGER_ID])
    def post(self, request: Request, namespace: str, name: str, trigger_id: str) -> Response:
        """A new webhook secret for a git trigger, shown only in this answer; the old one stops working now."""
        trigger = trigger_for(request, namespace, name, trigger_id, "change this repository's build triggers")
        secret = triggers.new_secret(trigger, caller(request), client_ip=client_ip(request))
        return Response({"secret": secret, "webhook_url": triggers.webhook_url(trigger)})


class TriggerDeliveries(ApiView):
    @extend_schema(tags=TAGS, responses=bs.DeliverySerializer(many=True), parameters=[TRIGGER_ID])
    def get(self, request: Request, namespace: str, name: str, trigger_id: str) -> Response:
        """The webhook deliveries the trigger received, newest first, with what Wharf answered."""
        trigger = trigger_for(request, namespace, name, trigger_id, "see this repository's build triggers")
        return self.paginated(Delivery.objects.filter(trigger=trigger).order_by("-id"), bs.DeliverySerializer)
