"""The browser pages, Quay-like: /organization/<name>/, /repository/<namespace>/<name>/ (names may hold "/")."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import path, re_path
from django.views.generic import RedirectView

from portal.web.views import (
    accounts,
    builds,
    dashboard,
    notifications,
    organizations,
    repositories,
    security,
    settings,
    superuser,
    tags,
    triggers,
)

REPOSITORY = r"(?P<full_name>[a-z0-9][a-z0-9._/-]*?)"
# A digest never holds "/", and a repository name never holds ":", so the two cannot be confused.
DIGEST = r"(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)"


def static(request: HttpRequest, path: str) -> HttpResponseBase:
    # Nothing else serves /static/ (gunicorn runs without a proxy in the embedded default); the finders read
    # the source directories, so it works with or without collectstatic. A proxy in front may take over.
    return serve(request, path, insecure=True)


urlpatterns = [
    path("", dashboard.home, name="home"),
    path("search/", dashboard.search, name="search"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.login, name="login"),
    path("logout/", accounts.logout, name="logout"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="registration/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", accounts.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="registration/password_reset_complete.html"), name="password_reset_complete"),
    path("settings/", settings.settings, name="settings"),
    path("settings/password/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("settings/github/disconnect/", settings.github_disconnect, name="github_disconnect"),
    path("settings/robots/", settings.user_robots, name="user_robots"),
    path("inbox/", notifications.inbox, name="inbox"),
    path("superuser/gc/", superuser.gc_runs, name="gc_runs"),
    path("superuser/advisories/", superuser.advisories, name="advisories"),
    path("organizations/new/", organizations.organization_new, name="organization_new"),
    path("organization/<str:name>/", organizations.organization, name="organization"),
    path("organization/<str:name>/teams/", organizations.teams, name="organization_teams"),
    path("organization/<str:name>/teams/<str:team_name>/", organizations.team, name="team"),
    path("organization/<str:name>/robots/", organizations.organization_robots, name="organization_robots"),
    path("organization/<str:name>/default-permissions/", organizations.default_permissions,
         name="organization_default_permissions"),
    path("organization/<str:name>/logs/", organizations.logs, name="organization_logs"),
    path("repository/new/", repositories.repository_new, name="repository_new"),
    # The sub-pages first. (So the overview of a repository whose name ends in "/settings", "/tags" and so on
    # is shadowed by its parent's sub-page: a rare name, and only the pages are affected, never /v2/.)
    re_path(rf"^repository/{REPOSITORY}/settings/$", repositories.repository_settings, name="repository_settings"),
    re_path(rf"^repository/{REPOSITORY}/logs/$", repositories.repository_logs, name="repository_logs"),
    re_path(rf"^repository/{REPOSITORY}/tags/$", tags.tags, name="repository_tags"),
    re_path(rf"^repository/{REPOSITORY}/history/$", tags.history, name="repository_history"),
    re_path(rf"^repository/{REPOSITORY}/builds/$", builds.builds, name="repository_builds"),
    re_path(rf"^repository/{REPOSITORY}/builds/(?P<build_id>[0-9]+)/$", builds.build, name="repository_build"),
    re_path(rf"^repository/{REPOSITORY}/builds/(?P<build_id>[0-9]+)/log/$", builds.build_log,
            name="repository_build_log"),
    re_path(rf"^repository/{REPOSITORY}/builds/(?P<build_id>[0-9]+)/log\.txt$", builds.build_log_download,
            name="repository_build_log_download"),
    re_path(rf"^repository/{REPOSITORY}/triggers/$", triggers.trigger_list, name="repository_triggers"),
    re_path(rf"^repository/{REPOSITORY}/triggers/new/$", triggers.trigger_new, name="repository_trigger_new"),
    re_path(rf"^repository/{REPOSITORY}/triggers/(?P<trigger_id>[0-9]+)/$", triggers.trigger,
            name="repository_trigger"),
    re_path(rf"^repository/{REPOSITORY}/notifications/$", notifications.notification_list,
            name="repository_notifications"),
    re_path(rf"^repository/{REPOSITORY}/notifications/(?P<notification_id>[0-9]{{1,18}})/$",
            notifications.notification, name="repository_notification"),
    re_path(rf"^repository/{REPOSITORY}/star/$", dashboard.star, name="repository_star"),
    re_path(rf"^repository/{REPOSITORY}/manifest/{DIGEST}/$", tags.manifest, name="repository_manifest"),
    re_path(rf"^repository/{REPOSITORY}/manifest/{DIGEST}/security/$", security.security,
            name="repository_manifest_security"),
    re_path(rf"^repository/{REPOSITORY}/manifest/{DIGEST}/security/packages/$", security.packages,
            name="repository_manifest_packages"),
    re_path(rf"^repository/{REPOSITORY}/manifest/{DIGEST}/security/sbom/$", security.sbom_download,
            name="repository_manifest_sbom"),
    re_path(rf"^repository/{REPOSITORY}/$", repositories.repository, name="repository"),
    path("static/<path:path>", static),
    # Pages link the SVG icon; this is for the clients that ask for /favicon.ico regardless.
    path("favicon.ico", RedirectView.as_view(url=f"/{django_settings.STATIC_URL.strip('/')}/favicon.svg",
                                             permanent=True)),
]
