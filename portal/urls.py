from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("registry_api.urls")),
    path("api/v1/", include("portal.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("social_django.urls", namespace="social")),
    path("", include("portal.web.urls")),
]
