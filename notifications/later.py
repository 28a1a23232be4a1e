"""An event leaves the request that caused it as one broker message; a worker fans it out into deliveries.

A push, a build's step or an import must not pay for the notifications its repository has: the receiver only
asks whether the repository has any enabled notification (an answer each process keeps for
WHARF_NOTIFY_CACHE_SECONDS: a notification made on another node starts receiving events within that long) and,
when it has, sends the event's fields to `notifications.tasks.fan_out`. The worker reads the repository's
notifications, applies their filters and writes the deliveries (delivery.fan_out). With
WHARF_NOTIFY_FANOUT_INLINE (the test suite's setting, as WHARF_AUDIT_FLUSH_SECONDS=0 is for the audit log) the
fan-out runs in the caller instead, so a test reads its deliveries at once; tests/notifications/test_later.py
runs the deferred path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from notifications import events

KINDS: dict[str, type[events.Event]] = {cls.__name__: cls for cls in (
    events.RepoPush, events.BuildEvent, events.VulnerabilityFound, events.TagExpiring)}

_interest: dict[int, tuple[bool, float]] = {}
_lock = threading.Lock()


def has_notifications(repository_id: int) -> bool:
    """Whether the repository has an enabled notification, as this process last read it (within the cache)."""
    ttl = settings.WHARF_NOTIFY_CACHE_SECONDS
    now = time.monotonic()
    with _lock:
        cached = _interest.get(repository_id)
    if cached is not None and ttl > 0 and cached[1] > now:
        return cached[0]
    from notifications.models import Notification

    answer = Notification.objects.filter(repository_id=repository_id, enabled=True).exists()
    with _lock:
        if len(_interest) > 100_000:
            _interest.clear()
        _interest[repository_id] = (answer, now + ttl)
    return answer


def forget(repository_id: int | None = None) -> None:
    """Drop this process's cached answer (a notification was made, changed or deleted here)."""
    with _lock:
        if repository_id is None:
            _interest.clear()
        else:
            _interest.pop(repository_id, None)


def encode(event: events.Event) -> tuple[str, dict[str, Any]]:
    """(kind, fields) as a broker message carries them: datetimes as ISO 8601."""
    values = {f.name: getattr(event, f.name) for f in dataclass_fields(event)}
    return type(event).__name__, {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def decode(kind: str, values: dict[str, Any]) -> events.Event:
    cls = KINDS[kind]
    timed = {f.name for f in dataclass_fields(cls) if "datetime" in str(f.type)}
    arguments: dict[str, Any] = {k: parse_datetime(v) if k in timed and isinstance(v, str) else v
                                 for k, v in values.items()}
    return cls(**arguments)


def send(event: events.Event, repository_id: int) -> None:
    """Hand the event over: to a worker (one message), or inline where the settings say so."""
    from notifications import delivery

    if settings.WHARF_NOTIFY_FANOUT_INLINE:
        delivery.fan_out(event, repository_id)
        return
    from notifications.tasks import fan_out
    from portal.broker import enqueue

    kind, values = encode(event)
    enqueue(fan_out, kind, values, repository_id)
