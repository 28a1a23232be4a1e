from django.contrib import admin

from portal.web.models import Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Lists and deletes (revokes) invitations; new ones come from `manage.py invite`, which prints the link."""

    list_display = ["id", "email", "created_by", "created_at", "expires_at", "used_at", "used_by"]
    readonly_fields = ["email", "created_by", "created_at", "expires_at", "used_at", "used_by"]
    exclude = ["token_digest"]

    def has_add_permission(self, request: object) -> bool:
        return False
