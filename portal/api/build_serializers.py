"""The API's shapes for builds, their logs, triggers and webhook deliveries.

What is never shown: a build's push credential, a trigger's webhook secret (only in the answer that makes it),
the private half of its deploy key, and the values of secret build arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from builds import services, triggers
from builds.models import BuildStatus, Phase, SourceKind, TriggerKind


@extend_schema_field({"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]})
class CommaListField(serializers.Field):  # type: ignore[type-arg]
    """A list of strings, given as a JSON array or as one comma-separated string (as a form sends it)."""

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            return [part.strip() for part in data.split(",") if part.strip()]
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return data
        raise serializers.ValidationError("Give a list of strings, or one comma-separated string.")

    def to_representation(self, value: Any) -> Any:
        return value


TRIGGER_KINDS = TriggerKind.values   # named in the schema by settings.SPECTACULAR_SETTINGS
ARGS_HELP = ("A JSON object of names and values, or a list of {name, value, secret}: a secret value is stored "
             "encrypted, masked in the log and never shown again.")


# --- Builds -------------------------------------------------------------------------------------------------------

class PhaseSerializer(serializers.Serializer):
    phase = serializers.ChoiceField(choices=Phase.values)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class BuildArgSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(help_text="'' for a secret argument: its value is never shown.")
    secret = serializers.BooleanField()


class PushedSerializer(serializers.Serializer):
    tag = serializers.CharField()
    digest = serializers.CharField()


class BuildLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    logs = serializers.URLField()
    repository = serializers.URLField()


def _absolute(context: Mapping[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


def build_path(build_id: int) -> str:
    return f"/api/v1/builds/{build_id}/"


class BuildSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    repository = serializers.CharField(source="repository.full_name")
    status = serializers.ChoiceField(choices=BuildStatus.values)
    phase = serializers.ChoiceField(choices=Phase.values)
    phases = PhaseSerializer(many=True, help_text="The phases so far, in order, with their timings.")
    source_kind = serializers.ChoiceField(choices=SourceKind.values)
    trigger = serializers.IntegerField(source="trigger_id", allow_null=True,
                                       help_text="The trigger it built for; null for an upload (or once deleted).")
    started_by = serializers.CharField(source="started_by_name",
                                       help_text="The user or robot who started it; '' for a webhook delivery.")
    commit_sha = serializers.CharField()
    ref = serializers.CharField()
    commit_message = serializers.CharField()
    commit_author = serializers.CharField()
    delivery_id = serializers.CharField(help_text="The webhook delivery that started it, if one did.")
    dockerfile_path = serializers.CharField()
    context_dir = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), help_text="The tags it pushes.")
    build_args = serializers.SerializerMethodField()
    platforms = serializers.ListField(child=serializers.CharField())
    network = serializers.BooleanField(help_text="Whether RUN steps reach the network.")
    pushed = PushedSerializer(many=True)
    manifest_digest = serializers.CharField()
    commands = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                     help_text="The podman command lines it ran (argv lists), secrets masked.")
    error = serializers.CharField()
    log_lines = serializers.IntegerField()
    log_truncated = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True, help_text="Seconds since it started (until it finished).")
    cancel_requested = serializers.BooleanField()
    links = serializers.SerializerMethodField()

    @extend_schema_field(BuildArgSerializer(many=True))
    def get_build_args(self, build: Any) -> list[dict[str, Any]]:
        return services.shown_build_args(build.build_args)

    @extend_schema_field(BuildLinksSerializer)
    def get_links(self, build: Any) -> dict[str, str]:
        return {"self": _absolute(self.context, build_path(build.pk)),
                "logs": _absolute(self.context, build_path(build.pk) + "logs/"),
                "repository": _absolute(self.context, f"/api/v1/repositories/{build.repository.full_name}/")}


class BuildUploadSerializer(serializers.Serializer):
    """A manual build of an upload (multipart/form-data)."""

    dockerfile = serializers.FileField(required=False, help_text="A Dockerfile; the build has no other context.")
    context = serializers.FileField(required=False, help_text="A tar, tar.gz or zip archive of the build context.")  # type: ignore[assignment]
    tags = CommaListField(required=False, help_text="Comma-separated; default 'latest'.")
    build_args = serializers.CharField(required=False, help_text=ARGS_HELP + " (As JSON text in a form.)")
    platforms = CommaListField(required=False, help_text="Comma-separated, e.g. linux/amd64,linux/arm64.")
    dockerfile_path = serializers.CharField(required=False, max_length=300,
                                            help_text="The Dockerfile inside the archive (default Dockerfile).")
    context_dir = serializers.CharField(required=False, allow_blank=True, max_length=300,
                                        help_text="The directory of the archive to build in (default: its top).")


class BuildFromTriggerSerializer(serializers.Serializer):
    """A build of a trigger's repository at a commit (application/json)."""

    trigger = serializers.IntegerField(min_value=1, help_text="One of this repository's triggers.")
    commit = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                   help_text="A full commit id; blank or absent: the head of the default branch.")
    ref = serializers.CharField(required=False, allow_blank=True, max_length=250,
                                help_text="The ref the commit is on (refs/heads/… or refs/tags/…, or a branch "
                                          "name); default the trigger's default branch. Tag templates use it.")
    tags = CommaListField(required=False, help_text="Instead of the trigger's tag templates.")
    build_args = serializers.JSONField(required=False, help_text="Instead of the trigger's. " + ARGS_HELP)
    platforms = CommaListField(required=False, help_text="Instead of the trigger's.")


class LogPageSerializer(serializers.Serializer):
    lines = serializers.ListField(child=serializers.CharField())
    start = serializers.IntegerField(help_text="The number of the first line in `lines` (from 0).")
    next = serializers.IntegerField(help_text="Ask with ?start= this next time.")
    finished = serializers.BooleanField(help_text="The build has ended: once read to `next`, nothing more comes.")
    truncated = serializers.BooleanField(help_text="The log reached its size limit and was cut.")


# --- Triggers ----------------------------------------------------------------------------------------------------

class TriggerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    repository = serializers.CharField(source="repository.full_name")
    kind = serializers.ChoiceField(choices=TRIGGER_KINDS)
    # A field named like Field.source: DRF's metaclass takes declared fields off the class, so they do not clash.
    source = serializers.CharField(  # type: ignore[assignment]
        source="source_name", help_text="The GitHub repository or the clone URL.")
    github_repository = serializers.CharField()
    clone_url = serializers.CharField()
    webhook_url = serializers.SerializerMethodField(help_text="Where the git host posts its push events.")
    deploy_key_public = serializers.CharField(
        help_text="The read-only deploy key to add to the git repository ('' for none).")
    dockerfile_path = serializers.CharField()
    context_dir = serializers.CharField()
    ref_filter = serializers.CharField(help_text="A regular expression on the ref; '' builds every branch and tag.")
    default_branch = serializers.CharField()
    tag_templates = serializers.ListField(child=serializers.CharField())
    build_args = serializers.SerializerMethodField()
    platforms = serializers.ListField(child=serializers.CharField())
    network = serializers.BooleanField()
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.URLField())
    def get_webhook_url(self, trigger: Any) -> str:
        return triggers.webhook_url(trigger)

    @extend_schema_field(BuildArgSerializer(many=True))
    def get_build_args(self, trigger: Any) -> list[dict[str, Any]]:
        return services.shown_build_args(trigger.build_args)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Its builds push in this user's name."))
    def get_created_by(self, trigger: Any) -> str | None:
        return trigger.created_by.username if trigger.created_by is not None else None


class TriggerCreatedSerializer(TriggerSerializer):
    secret = serializers.CharField(help_text="The webhook secret. Shown only in this response.")


class TriggerSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new webhook secret (the old one stops working). Shown once.")
    webhook_url = serializers.URLField()


class TriggerUpdateSerializer(serializers.Serializer):
    """A trigger's settings; absent keys keep their values."""

    clone_url = serializers.CharField(required=False, max_length=500, help_text="git triggers only.")
    dockerfile_path = serializers.CharField(required=False, allow_blank=True, max_length=300)
    context_dir = serializers.CharField(required=False, allow_blank=True, max_length=300)
    ref_filter = serializers.CharField(required=False, allow_blank=True, max_length=300)
    default_branch = serializers.CharField(required=False, max_length=200)
    tag_templates = CommaListField(required=False, help_text="{branch}, {tag}, {sha}, {sha7}, {date}, or latest "
                                                            "(pushed for the default branch only).")
    build_args = serializers.JSONField(required=False, help_text=ARGS_HELP + " A secret given with an empty value "
                                                                            "keeps its current value.")
    platforms = CommaListField(required=False)
    network = serializers.BooleanField(required=False, help_text="Let RUN steps reach the network (off by default).")
    enabled = serializers.BooleanField(required=False)


class TriggerCreateSerializer(TriggerUpdateSerializer):
    kind = serializers.ChoiceField(choices=TRIGGER_KINDS,
                                   error_messages={"invalid_choice": "A trigger is either 'github' or 'git'."})
    github_repository = serializers.CharField(required=False, max_length=200,
                                              help_text="github: owner/name, from your connected GitHub account.")
    deploy_key = serializers.BooleanField(required=False, help_text="git: make a read-only deploy key for it.")


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    delivery_id = serializers.CharField(help_text="The git host's id of the delivery (X-GitHub-Delivery).")
    event = serializers.CharField()
    ref = serializers.CharField()
    commit_sha = serializers.CharField()
    status_code = serializers.IntegerField(help_text="What Wharf answered.")
    outcome = serializers.CharField()
    build = serializers.IntegerField(source="build_id", allow_null=True)
    received_at = serializers.DateTimeField()
