"""The API's shapes: input serializers check the form of a request (the services check the rules), output
serializers say what a response holds (and document it in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.access import SCOPES
from portal.accounts.models import TeamRole
from portal.repositories.models import RepositoryRole, Visibility

ROLES = RepositoryRole.labels                  # read, write, admin
TEAM_ROLES = TeamRole.labels                   # member, creator, admin
GRANTEE_KINDS = ("user", "team", "robot")


def _choice(choices: list[str], message: str, **kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=choices, error_messages={"invalid_choice": message}, **kwargs)


# --- Repositories -----------------------------------------------------------------------------------------------

DESCRIPTION_HELP = "Markdown, up to 64 KiB (UTF-8); a longer one is refused with 400."


class RepositorySerializer(serializers.Serializer):
    namespace = serializers.CharField(source="namespace.name")
    name = serializers.CharField()
    full_name = serializers.CharField()
    visibility = serializers.ChoiceField(choices=Visibility.values)
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class RepositoryDetailSerializer(RepositorySerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role on the repository (null: none).")

    @extend_schema_field(serializers.ChoiceField(choices=ROLES, allow_null=True))
    def get_role(self, repository: Any) -> str | None:
        role = self.context.get("role")
        return str(role) if role else None


class RepositoryCreateSerializer(serializers.Serializer):
    namespace = serializers.CharField(max_length=64, help_text="The user or organization that will own it.")
    name = serializers.CharField(max_length=255, help_text="The name after the namespace, e.g. 'tools/builder'.")
    visibility = _choice(Visibility.values, "Visibility is either public or private.", default=Visibility.PRIVATE)
    description = serializers.CharField(allow_blank=True, default="", help_text=DESCRIPTION_HELP)


class RepositoryUpdateSerializer(serializers.Serializer):
    visibility = _choice(Visibility.values, "Visibility is either public or private.", required=False)
    description = serializers.CharField(allow_blank=True, required=False, help_text=DESCRIPTION_HELP)


class GrantSerializer(serializers.Serializer):
    """A role granted to a user, a team or a robot (on one repository, or by default in an organization)."""

    kind = serializers.ChoiceField(choices=GRANTEE_KINDS)
    name = serializers.CharField(help_text="The username, the team's name, or the robot's 'namespace+name'.")
    role = serializers.ChoiceField(choices=ROLES)


class RoleSerializer(serializers.Serializer):
    role = _choice(ROLES, "Unknown role: use one of read, write, admin.")


def grant_of(row: Any) -> dict[str, str]:
    """A RepositoryPermission or DefaultPermission row as a GrantSerializer's data."""
    if row.user_id is not None:
        kind, name = "user", row.user.username
    elif row.team_id is not None:
        kind, name = "team", row.team.name
    else:
        kind, name = "robot", row.robot.full_name
    return {"kind": kind, "name": name, "role": RepositoryRole(row.role).label}


# --- Organizations and teams ---------------------------------------------------------------------------------

class OrganizationSerializer(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class OrganizationDetailSerializer(OrganizationSerializer):
    role = serializers.SerializerMethodField(
        help_text="The caller's highest team role in the organization, null for non-members.")

    @extend_schema_field(serializers.ChoiceField(choices=TEAM_ROLES, allow_null=True))
    def get_role(self, organization: Any) -> str | None:
        role = self.context.get("role") or 0
        return TeamRole(role).label if role else None


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="Shares one namespace with user names.")


class TeamSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=TEAM_ROLES, source="get_role_display")
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class TeamCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    role = _choice(TEAM_ROLES, "Unknown team role: use one of member, creator, admin.", default="member")
    description = serializers.CharField(allow_blank=True, default="", max_length=255)


class TeamUpdateSerializer(serializers.Serializer):
    role = _choice(TEAM_ROLES, "Unknown team role: use one of member, creator, admin.", required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=255)


class TeamMemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    added_at = serializers.DateTimeField()


class OrganizationMemberSerializer(serializers.Serializer):
    username = serializers.CharField()
    teams = serializers.ListField(child=serializers.CharField())
    role = serializers.ChoiceField(choices=TEAM_ROLES, help_text="The highest role among the member's teams.")


# --- Robot accounts -------------------------------------------------------------------------------------------

class RobotSerializer(serializers.Serializer):
    name = serializers.CharField(source="full_name", help_text="'namespace+name', the robot's login name.")
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class RobotPermissionSerializer(serializers.Serializer):
    repository = serializers.CharField(source="repository.full_name")
    role = serializers.ChoiceField(choices=ROLES, source="get_role_display")


class RobotDetailSerializer(RobotSerializer):
    permissions = serializers.SerializerMethodField(help_text="The robot's roles on repositories.")

    @extend_schema_field(RobotPermissionSerializer(many=True))
    def get_permissions(self, robot: Any) -> Any:
        grants = robot.repository_permissions.select_related("repository").order_by("repository__full_name")
        return RobotPermissionSerializer(grants, many=True).data


class RobotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="The part after '+', e.g. 'ci'.")
    description = serializers.CharField(allow_blank=True, default="", max_length=255)


class RobotTokenSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="'namespace+name': the username for `podman login`.")
    token = serializers.CharField(help_text="The password for `podman login`. Shown only in this response.")


class RobotCreatedSerializer(RobotSerializer):
    token = serializers.CharField(help_text="Shown only in this response; regenerate it if it is lost.")


# --- The caller and its API tokens ---------------------------------------------------------------------------

class UserSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="For a robot, its 'namespace+name'.")
    email = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=["user", "token", "robot"],
                                   help_text="How the caller signed in: as a user, through an API token, or a robot.")
    organizations = serializers.ListField(child=serializers.CharField())
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                   help_text="The API token's scopes; null for full rights.")


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's first characters, to tell tokens apart.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=list(SCOPES)))
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The secret. Shown only in this response.")


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    # Plain strings: the service names every valid scope when one is unknown.
    scopes = serializers.ListField(child=serializers.CharField(), allow_empty=True,
                                   help_text="Any of: " + ", ".join(SCOPES) + ".")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


# --- The audit log ----------------------------------------------------------------------------------------------

class LogEntrySerializer(serializers.Serializer):
    kind = serializers.CharField()
    actor = serializers.CharField(help_text="A username, a robot's 'namespace+name', or '' for anonymous.")
    actor_kind = serializers.CharField()
    repository = serializers.CharField(source="repository_name")
    target = serializers.CharField()
    detail = serializers.JSONField()
    client_ip = serializers.IPAddressField(allow_null=True)
    created_at = serializers.DateTimeField()



# --- Tags, their history, manifests and stars --------------------------------------------------------------

class ScanSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued", "scanning", "done", "failed", "unsupported"])
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    unknown = serializers.IntegerField()


class PlatformSerializer(serializers.Serializer):
    os = serializers.CharField()
    architecture = serializers.CharField()
    variant = serializers.CharField()
    digest = serializers.CharField()
    size = serializers.IntegerField(source="image_size", help_text="The platform image's compressed size in bytes.")


class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    digest = serializers.CharField(help_text="The digest of the manifest the tag points at.")
    media_type = serializers.CharField()
    size = serializers.IntegerField(source="image_size",
                                    help_text="Compressed size of config and layers in bytes (0 for an index).")
    last_modified = serializers.DateTimeField(source="updated_at")
    expires_at = serializers.DateTimeField(allow_null=True)
    scan = ScanSerializer(allow_null=True, help_text="The manifest's scan summary; null when not scanned.")
    platforms = PlatformSerializer(many=True, help_text="For a manifest list or OCI index: one entry per platform.")


class TagUpdateSerializer(serializers.Serializer):
    manifest_digest = serializers.CharField(
        required=False, max_length=200,
        help_text="Point the tag at this manifest of the repository (creating the tag if need be).")
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="When the tag is removed (in the future); null clears it; absent leaves it as it is.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data:
            raise serializers.ValidationError("Give manifest_digest, expires_at, or both.")
        return data


class TagRestoreSerializer(serializers.Serializer):
    manifest_digest = serializers.CharField(max_length=200,
                                            help_text="A digest the tag pointed at, from its history.")


class HistoryEntrySerializer(serializers.Serializer):
    tag = serializers.CharField()
    kind = serializers.ChoiceField(choices=["pushed", "moved", "deleted"])
    digest = serializers.CharField(help_text="Where the tag pointed after the event ('' once deleted).")
    previous_digest = serializers.CharField(help_text="Where it pointed before ('' for a first push).")
    actor = serializers.CharField(help_text="The user who did it; '' for a robot or Wharf itself (expiry).")
    created_at = serializers.DateTimeField()
    restorable_digest = serializers.CharField(
        help_text="POST this to the tag's restore/ to undo the event; '' when there is nothing to restore.")
    previous_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="The tag's expiry when this event moved it off previous_digest or deleted it.")
    restore_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="The expiry a restore to restorable_digest gives the tag: the one it had when it "
                                   "last left that manifest; null for none, or when that time has passed (the tag "
                                   "then comes back without an expiry).")


class LayerSerializer(serializers.Serializer):
    digest = serializers.CharField()
    media_type = serializers.CharField()
    size = serializers.IntegerField()
    command = serializers.CharField(help_text="The build step that made the layer, from the image config.")


class ManifestDetailSerializer(serializers.Serializer):
    digest = serializers.CharField()
    media_type = serializers.CharField()
    artifact_type = serializers.CharField()
    size = serializers.IntegerField(help_text="The manifest's own size in bytes.")
    image_size = serializers.IntegerField(help_text="Compressed size of config and layers (0 for an index).")
    created_at = serializers.DateTimeField()
    tags = serializers.ListField(child=serializers.CharField(), help_text="Up to 100 tags on the manifest.")
    layers = LayerSerializer(many=True)
    config_digest = serializers.CharField()
    labels = serializers.DictField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField())
    platforms = PlatformSerializer(many=True)
    referrers = serializers.ListField(child=serializers.DictField(),
                                      help_text="Descriptors of manifests whose subject is this one.")
    os = serializers.CharField()
    architecture = serializers.CharField()


class StarSerializer(serializers.Serializer):
    repository = serializers.CharField()
    starred = serializers.BooleanField()
