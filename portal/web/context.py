"""Template context every page gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from notifications import services


def inbox(request: HttpRequest) -> dict[str, Any]:
    """`inbox_unread`: the signed-in user's unread in-app notifications, for the header. A callable, so the one
    COUNT (on a partial index) runs only when a template shows it, never for anonymous pages."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    count: Callable[[], int] = lambda: services.unread_count(user)   # noqa: E731 (templates call callables)
    return {"inbox_unread": count}
