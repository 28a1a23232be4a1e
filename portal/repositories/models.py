from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.accounts.models import Namespace, Organization, Robot, Team
from portal.db import ByteOrderCharField


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


class RepositoryRole(models.IntegerChoices):
    """Ordered: admin implies write implies read (stored as numbers so that the highest grant is MAX())."""

    READ = 1, "read"
    WRITE = 2, "write"
    ADMIN = 3, "admin"


class Repository(models.Model):
    """`namespace/name`: what podman calls a repository and the OCI spec calls a <name>."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=255)
    # The whole name as clients send it, kept beside its parts so that every /v2/ request finds its
    # repository with one indexed lookup, and the catalog sorts in the spec's lexical order.
    full_name = ByteOrderCharField(max_length=255, unique=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.full_name

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC


def _one_grantee() -> models.Q:
    user, team, robot = (models.Q(user__isnull=False), models.Q(team__isnull=False), models.Q(robot__isnull=False))
    return (user & ~team & ~robot) | (~user & team & ~robot) | (~user & ~team & robot)


class Star(models.Model):
    """A user's bookmark of a repository (shown on the dashboard; counted on the repository page)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repository"], name="star_unique")]


class RepositoryPermission(models.Model):
    """A role on one repository, granted to exactly one user, team or robot."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="permissions")
    role = models.PositiveSmallIntegerField(choices=RepositoryRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="repository_permissions")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="repository_permissions")
    robot = models.ForeignKey(Robot, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="repository_permissions")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=_one_grantee(), name="permission_has_one_grantee"),
            models.UniqueConstraint(fields=["repository", "user"], name="permission_user_unique"),
            models.UniqueConstraint(fields=["repository", "team"], name="permission_team_unique"),
            models.UniqueConstraint(fields=["repository", "robot"], name="permission_robot_unique"),
        ]


class DefaultPermission(models.Model):
    """A role that every new repository of the organization grants to a user, team or robot."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="default_permissions")
    role = models.PositiveSmallIntegerField(choices=RepositoryRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    robot = models.ForeignKey(Robot, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=_one_grantee(), name="default_permission_has_one_grantee"),
            models.UniqueConstraint(fields=["organization", "user"], name="default_permission_user_unique"),
            models.UniqueConstraint(fields=["organization", "team"], name="default_permission_team_unique"),
            models.UniqueConstraint(fields=["organization", "robot"], name="default_permission_robot_unique"),
        ]


class BlockSeverity(models.TextChoices):
    """The lowest finding severity that blocks pulls (scanning.severity's scale, from Low up)."""

    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def _one_owner() -> models.Q:
    namespace, repository = models.Q(namespace__isnull=False), models.Q(repository__isnull=False)
    return (namespace & ~repository) | (~namespace & repository)


class ScanPolicy(models.Model):
    """Which pulls the security scan blocks, set on a namespace (its repositories' default) or on one repository
    (which then overrides its namespace's, "off" included). portal/repositories/scan_policy.py applies it."""

    namespace = models.OneToOneField(Namespace, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="scan_policy")
    repository = models.OneToOneField(Repository, null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="scan_policy")
    block_severity = models.CharField(max_length=10, choices=BlockSeverity.choices, default=BlockSeverity.OFF)
    block_unscanned = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "scan policies"
        constraints = [models.CheckConstraint(condition=_one_owner(), name="scan_policy_has_one_owner")]
