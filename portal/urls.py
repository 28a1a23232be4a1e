from django.contrib import admin
from django.urls import include, path

from builds import webhooks
from portal import health, scrape

urlpatterns = [
    # On the middleware-free handler (portal/handlers.py), like /v2/.
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", scrape.metrics_view),
    path("", include("registry_api.urls")),
    path("api/v1/", include("portal.api.urls")),
    path("webhooks/git/<int:trigger_id>/", webhooks.receive, name="build_webhook"),
    path("", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("", include("social_django.urls", namespace="social")),
    path("", include("portal.web.urls")),
]

# Failures no view answered (a bug, an Http404, a request Django refuses, a busy database) get the envelope of
# the surface they happened on: OCI under /v2/, the API's under /api/, HTML pages elsewhere.
handler400 = "portal.failures.bad_request"
handler403 = "portal.failures.permission_denied"
handler404 = "portal.failures.page_not_found"
handler500 = "portal.failures.server_error"
