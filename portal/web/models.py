"""Invitations: with WHARF_SIGNUP="invite", a one-time link from an admin is the only way to sign up."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Invitation(models.Model):
    # Like robot tokens: the link's secret is random and long, so its SHA-256 is all that is kept.
    token_digest = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True, help_text="Suggested on the sign-up form; not enforced.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.email or 'anyone'})"
