"""One exception class per OCI error code, rendered into the spec's error envelope in one place."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


class RegistryError(Exception):
    code, status, message = "UNKNOWN", 500, "unknown error"

    def __init__(self, message: str | None = None, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        response = JsonResponse({"errors": [error]}, status=self.status)
        for header, value in self.headers.items():
            response[header] = value
        return response


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = "DIGEST_INVALID", 400, "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    code, status, message = "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry"


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    status = 413


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class TagInvalid(RegistryError):
    code, status, message = "TAG_INVALID", 400, "manifest tag did not match URI"


class TagNotRestorable(RegistryError):
    """A restore to a manifest the tag did not point at within WHARF_TAG_HISTORY_DAYS. The portal's restore
    raises it (no /v2/ route does); MANIFEST_UNKNOWN is the nearest code the spec has."""

    code, status, message = "MANIFEST_UNKNOWN", 404, "the tag did not point at that manifest in the history window"


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class RangeInvalid(RegistryError):
    code, status, message = "RANGE_INVALID", 416, "invalid content range"


class PaginationNumberInvalid(RegistryError):
    code, status, message = "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


class Unknown(RegistryError):
    """Distribution's catch-all code: a request Django itself refused (400), or a fault of ours (500)."""

    code, status, message = "UNKNOWN", 500, "unknown error"

    def __init__(self, message: str | None = None, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class Unavailable(RegistryError):
    code, status, message = "UNAVAILABLE", 503, "service unavailable"


class BlobTooLarge(BlobUploadInvalid):
    status = 413


class StorageFull(RegistryError):
    # 507 Insufficient Storage; UNAVAILABLE is the distribution registry's code for a server that cannot serve
    # now but may later. Nothing half-written stays behind, so the client may simply try again.
    code, status, message = "UNAVAILABLE", 507, "the registry's storage is full; try again later"
