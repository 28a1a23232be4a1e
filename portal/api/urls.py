"""The REST API's routes under /api/v1/.

Repository names contain slashes (acme/tools/builder), so their routes are regular expressions and the
routes with a fixed suffix (tags/, manifests/, history/, star/, permissions/, logs/, security-policy/, builds/,
triggers/, notifications/) come before the bare repository: the first pattern that matches wins. So a repository
whose name ends in /permissions, /logs, /security-policy, /history, /star, /builds, /triggers, /notifications or
/tags, or in /tags/<x>, /manifests/<x>, /tags/<x>/history, /tags/<x>/restore or /triggers/<n>, is shadowed here by
its parent's route (`acme/app/tags/` lists the tags of acme/app, never describes a repository named acme/app/tags); such
repositories are reached through the registry and the pages. Among the tag routes, a tag's own routes come first,
so that tags named "history", "star" or "tags" are still tags of acme/app.
"""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal.api import (
    advisories,
    builds,
    docs,
    gc,
    logs,
    manifests,
    notifications,
    organizations,
    repositories,
    robots,
    security,
    security_policy,
    stars,
    tags,
    teams,
    triggers,
    user,
)
from portal.api.base import not_found
from portal.security import relaxed_for_api_docs

NS = r"(?P<namespace>[^/]+)"
REPO = rf"^repositories/{NS}/(?P<name>[^/]+(?:/[^/]+)*?)"
ORG = r"^organizations/(?P<organization>[^/]+)"
GRANT = r"(?P<kind>[^/]+)/(?P<who>[^/]+)"
TAG = r"(?P<tag>[^/]+)"
ID = "[0-9]{1,18}"
TRIGGER = rf"{REPO}/triggers/(?P<trigger_id>{ID})"
NOTIFICATION = rf"{REPO}/notifications/(?P<notification_id>{ID})"
BUILD = rf"^builds/(?P<build_id>{ID})"
MANIFEST = rf"{REPO}/manifests/(?P<digest>[^/]+)"

urlpatterns = [
    path("repositories/", repositories.RepositoryList.as_view()),
    re_path(rf"{REPO}/tags/{TAG}/history/$", tags.TagHistory.as_view()),
    re_path(rf"{REPO}/tags/{TAG}/restore/$", tags.TagRestore.as_view()),
    re_path(rf"{REPO}/tags/{TAG}/$", tags.TagDetail.as_view()),
    re_path(rf"{REPO}/tags/$", tags.TagList.as_view()),
    re_path(rf"{MANIFEST}/security/packages/$", security.SecurityPackages.as_view()),
    re_path(rf"{MANIFEST}/security/rescan/$", security.SecurityRescan.as_view()),
    re_path(rf"{MANIFEST}/security/sbom/$", security.SecuritySbom.as_view()),
    re_path(rf"{MANIFEST}/security/$", security.SecurityReport.as_view()),
    re_path(rf"{MANIFEST}/$", manifests.ManifestDetail.as_view()),
    re_path(rf"{REPO}/history/$", tags.RepositoryHistory.as_view()),
    re_path(rf"{REPO}/star/$", stars.Star.as_view()),
    re_path(rf"{REPO}/permissions/{GRANT}/$", repositories.PermissionDetail.as_view()),
    re_path(rf"{REPO}/permissions/$", repositories.PermissionList.as_view()),
    re_path(rf"{REPO}/logs/$", logs.RepositoryLogs.as_view()),
    re_path(rf"{REPO}/security-policy/$", security_policy.RepositoryScanPolicy.as_view()),
    re_path(rf"{REPO}/builds/$", builds.BuildList.as_view()),
    re_path(rf"{TRIGGER}/secret/$", triggers.TriggerSecret.as_view()),
    re_path(rf"{TRIGGER}/deliveries/$", triggers.TriggerDeliveries.as_view()),
    re_path(rf"{TRIGGER}/$", triggers.TriggerDetail.as_view()),
    re_path(rf"{REPO}/triggers/$", triggers.TriggerList.as_view()),
    re_path(rf"{REPO}/notifications/deliveries/(?P<delivery_id>{ID})/redeliver/$",
            notifications.DeliveryRedeliver.as_view()),
    re_path(rf"{NOTIFICATION}/test/$", notifications.NotificationTest.as_view()),
    re_path(rf"{NOTIFICATION}/deliveries/$", notifications.NotificationDeliveries.as_view()),
    re_path(rf"{NOTIFICATION}/$", notifications.NotificationDetail.as_view()),
    re_path(rf"{REPO}/notifications/$", notifications.NotificationList.as_view()),
    re_path(rf"{REPO}/$", repositories.RepositoryDetail.as_view()),

    path("organizations/", organizations.OrganizationList.as_view()),
    re_path(rf"{ORG}/$", organizations.OrganizationDetail.as_view()),
    re_path(rf"{ORG}/members/$", organizations.MemberList.as_view()),
    re_path(rf"{ORG}/default-permissions/$", organizations.DefaultPermissionList.as_view()),
    re_path(rf"{ORG}/default-permissions/{GRANT}/$", organizations.DefaultPermissionDetail.as_view()),
    re_path(rf"{ORG}/logs/$", logs.OrganizationLogs.as_view()),
    re_path(rf"{ORG}/security-policy/$", security_policy.OrganizationScanPolicy.as_view()),
    re_path(rf"{ORG}/teams/$", teams.TeamList.as_view()),
    re_path(rf"{ORG}/teams/(?P<team>[^/]+)/$", teams.TeamDetail.as_view()),
    re_path(rf"{ORG}/teams/(?P<team>[^/]+)/members/$", teams.TeamMemberList.as_view()),
    re_path(rf"{ORG}/teams/(?P<team>[^/]+)/members/(?P<username>[^/]+)/$", teams.TeamMemberDetail.as_view()),

    re_path(rf"^namespaces/{NS}/robots/$", robots.RobotList.as_view()),
    re_path(rf"^namespaces/{NS}/robots/(?P<robot>[^/]+)/$", robots.RobotDetail.as_view()),
    re_path(rf"^namespaces/{NS}/robots/(?P<robot>[^/]+)/regenerate/$", robots.RobotRegenerate.as_view()),

    path("user/", user.CurrentUser.as_view()),
    path("user/tokens/", user.TokenList.as_view()),
    path("user/starred/", stars.StarredList.as_view()),
    path("user/inbox/", notifications.Inbox.as_view()),
    path("user/inbox/read/", notifications.InboxRead.as_view()),
    re_path(r"^user/tokens/(?P<token_id>[0-9]{1,18})/$", user.TokenDetail.as_view()),

    re_path(rf"{BUILD}/$", builds.BuildDetail.as_view()),
    re_path(rf"{BUILD}/logs/$", builds.BuildLogs.as_view()),
    re_path(rf"{BUILD}/cancel/$", builds.BuildCancel.as_view()),
    re_path(rf"{BUILD}/rerun/$", builds.BuildRerun.as_view()),

    path("superuser/gc/runs/", gc.GcRuns.as_view()),
    path("superuser/advisories/", advisories.AdvisoryStore.as_view()),
    path("superuser/advisories/imports/", advisories.AdvisoryImports.as_view()),

    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", relaxed_for_api_docs(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("redoc/", relaxed_for_api_docs(docs.RedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("redoc/redoc.standalone.js", docs.redoc_bundle, name="api-redoc-bundle"),
    # Anything else under /api/v1/ is a JSON 404 too, not the site's HTML page (nor a slash redirect).
    re_path(r"^", not_found),
]
