"""People and the names they own: users, organizations and their teams, robot accounts and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from portal.db import ByteOrderCharField
from portal.names import PATH_COMPONENT

namespace_validator = RegexValidator(
    rf"^{PATH_COMPONENT}\Z",
    "Use lower-case letters, digits and single separators (. _ -) between them, e.g. 'alice' or 'acme-ci'.",
)
# Team and robot names follow the same grammar: it has no "/" or "+", so a name still reads as one URL
# segment and `namespace+robot` still splits at its one "+".
short_name_validator = RegexValidator(
    rf"^{PATH_COMPONENT}\Z",
    "Use lower-case letters, digits and single separators (. _ -) between them, e.g. 'ci' or 'deploy-bot'.",
)
EMAIL_TAKEN = "That e-mail address is used by another account."


class User(AbstractUser):
    """A person. Its username is also its namespace, so it follows the OCI path-component grammar."""

    username = models.CharField(
        "username", max_length=64, unique=True, validators=[namespace_validator],
        help_text="Lower-case letters, digits and . _ - separators; it is also your namespace.",
        error_messages={"unique": "That name is taken."},
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            # One account per address, whatever its case: a password reset for an address must reach one
            # account. Blank addresses (GitHub sign-ins without one, cleared duplicates) are not addresses.
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique",
                                    violation_error_message=EMAIL_TAKEN),
        ]


class Organization(models.Model):
    """A namespace owned by teams rather than by one person."""

    name = ByteOrderCharField(max_length=64, unique=True, validators=[namespace_validator])
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Namespace(models.Model):
    """The first component of a repository name: a user's or an organization's, never both.

    Users and organizations share this one table of names, so neither can take the other's.
    """

    name = ByteOrderCharField(max_length=64, unique=True, validators=[namespace_validator])
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace")
    organization = models.OneToOneField(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="namespace")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, organization__isnull=True)
                | models.Q(user__isnull=True, organization__isnull=False),
                name="namespace_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TeamRole(models.IntegerChoices):
    """Ordered: admin implies creator implies member."""

    MEMBER = 1, "member"        # the team's repository permissions
    CREATOR = 2, "creator"      # ... and may create repositories in the organization
    ADMIN = 3, "admin"          # ... and administers the organization


class Team(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=64, validators=[short_name_validator])
    role = models.PositiveSmallIntegerField(choices=TeamRole.choices, default=TeamRole.MEMBER)
    description = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(User, through="TeamMember", related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="team_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.organization.name}/{self.name}"


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_unique")]


class Robot(models.Model):
    """A credential for tools, `namespace+name`; it holds only the permissions granted to it."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="robots")
    name = models.CharField(max_length=64, validators=[short_name_validator])
    description = models.CharField(max_length=255, blank=True)
    # SHA-256 of the token: the token is random and long, so a fast hash is enough and costs microseconds.
    token_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="robot_name_unique")]
        ordering = ["name"]

    @property
    def full_name(self) -> str:
        return f"{self.namespace.name}+{self.name}"

    def __str__(self) -> str:
        return self.full_name


class ApiToken(models.Model):
    """A personal access token: a user's rights, cut down to its scopes, until it expires or is revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)   # shown in lists so that a person can tell tokens apart
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} / {self.name}"


class Throttle(models.Model):
    """A counter of failures per key (client address or account name) in fixed windows."""

    key = models.CharField(max_length=200, unique=True)
    window_start = models.BigIntegerField()
    failures = models.PositiveIntegerField(default=0)
