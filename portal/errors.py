"""Domain errors raised by services; the API renders them as JSON, the pages as form messages."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the rules refuse, with a message a person can act on."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    pass


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class NotFound(ServiceError):
    """Also what a caller gets for something it may not see: it must not learn that it exists."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    """For things the caller may see but not change."""

    status = 403
    code = "forbidden"


class AuthenticationFailed(ServiceError):
    status = 401
    code = "unauthorized"


class Throttled(ServiceError):
    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts; try again in {retry_after} seconds.")
        self.retry_after = retry_after
