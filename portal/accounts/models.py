from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models

from portal.db import ByteOrderCharField
from portal.names import PATH_COMPONENT

namespace_validator = RegexValidator(
    rf"^{PATH_COMPONENT}\Z",
    "Use lower-case letters, digits and single separators (. _ -) between them, e.g. 'alice' or 'acme-ci'.",
)


class User(AbstractUser):
    """A person. Its username is also its namespace, so it follows the OCI path-component grammar."""

    username = models.CharField(
        "username", max_length=64, unique=True, validators=[namespace_validator],
        help_text="Lower-case letters, digits and . _ - separators; it is also your namespace.",
        error_messages={"unique": "That name is taken."},
    )


class Namespace(models.Model):
    """The first component of a repository name: a user's (and, later, an organization's)."""

    name = ByteOrderCharField(max_length=64, unique=True, validators=[namespace_validator])
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
