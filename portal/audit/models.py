from __future__ import annotations

from django.db import models

from portal.accounts.models import Namespace
from portal.repositories.models import Repository


class LogEntry(models.Model):
    """One security-relevant action: who did what to which target, when and from where.

    Names are copied in as text so that an entry still reads right after its actor or repository is gone.
    """

    kind = models.CharField(max_length=40)
    actor = models.CharField(max_length=130, blank=True)        # username, `ns+robot`, or "" for anonymous
    actor_kind = models.CharField(max_length=10, blank=True)    # user, robot, token, anonymous
    namespace = models.ForeignKey(Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    repository = models.ForeignKey(Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    repository_name = models.CharField(max_length=255, blank=True)
    target = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["namespace", "-created_at"], name="log_namespace_time"),
            models.Index(fields=["repository", "-created_at"], name="log_repository_time"),
            models.Index(fields=["actor", "-created_at"], name="log_actor_time"),
        ]
