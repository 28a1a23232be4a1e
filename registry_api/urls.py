from django.urls import path, re_path

from registry_api import auth
from registry_api.views import base, blobs, manifests, tags, uploads

NAME = r"(?P<name>[^?]+?)"

urlpatterns = [
    path("v2/", base.ping),
    path("v2/auth", auth.token),
    path("v2/_catalog", base.catalog),
    re_path(rf"^v2/{NAME}/tags/list$", tags.tag_list),
    re_path(rf"^v2/{NAME}/manifests/(?P<reference>[^/]+)$", manifests.manifest),
    re_path(rf"^v2/{NAME}/blobs/uploads/?$", uploads.start),
    re_path(rf"^v2/{NAME}/blobs/uploads/(?P<upload_id>[^/]+)$", uploads.session),
    re_path(rf"^v2/{NAME}/blobs/(?P<digest>[^/]+)$", blobs.blob),
    re_path(rf"^v2/{NAME}/referrers/(?P<digest>[^/]+)$", tags.referrers),
    re_path(r"^v2/(?P<path>.*)$", base.not_found),
]
