from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.accounts.models import ApiToken, Namespace, Organization, Robot, Team, User

admin.site.register(User, UserAdmin)
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
