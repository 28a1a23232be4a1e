from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def loopback_allowed(settings):  # type: ignore[no-untyped-def]
    """The tests' receivers live on loopback; the SSRF tests turn this off again."""
    settings.WHARF_NOTIFY_ALLOW_PRIVATE = True
    settings.WHARF_SITE_URL = "https://wharf.example"


@pytest.fixture
def sent(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """The deliveries handed to the queue, in order; the tests make the attempts themselves (no broker)."""
    ids: list[int] = []
    monkeypatch.setattr("notifications.delivery.send", lambda delivery_ids: ids.extend(delivery_ids))
    return ids
