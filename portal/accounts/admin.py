from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm

from portal.accounts.models import EMAIL_TAKEN, ApiToken, Namespace, Organization, Robot, Team, User
from portal.accounts.services import email_taken


class WharfUserChangeForm(UserChangeForm):  # type: ignore[type-arg]
    def clean_email(self) -> str:
        """A taken address (in any case) is an error on the field, not a database error on save."""
        email: str = User.objects.normalize_email(self.cleaned_data.get("email") or "")
        if email_taken(email, self.instance.pk):
            raise forms.ValidationError(EMAIL_TAKEN)
        return email


@admin.register(User)
class WharfUserAdmin(UserAdmin):  # type: ignore[type-arg]
    form = WharfUserChangeForm


admin.site.register(Namespace)
admin.site.register(Organization)
admin.site.register(Team)


@admin.register(Robot)
class RobotAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "namespace", "created_at", "last_used_at"]
    exclude = ["token_digest"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "user", "prefix", "expires_at", "last_used_at"]
    exclude = ["token_digest"]
