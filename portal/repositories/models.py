from __future__ import annotations

from django.db import models

from portal.accounts.models import Namespace
from portal.db import ByteOrderCharField


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


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
