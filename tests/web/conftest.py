"""Page tests: the Django test client on the real database, signed in with force_login (no bcrypt per test)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from portal.accounts.models import User

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]+">')


@pytest.fixture
def login_as(client: Client) -> Callable[[User], Client]:
    def sign_in(user: User) -> Client:
        client.force_login(user, backend=MODEL_BACKEND)
        return client
    return sign_in


def text(response: object) -> str:
    """A response's body with CSRF tokens blanked (they differ on every response)."""
    return CSRF_INPUT.sub("", response.content.decode())  # type: ignore[attr-defined]


def messages_of(response: object) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]
