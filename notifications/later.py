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

import atexit
import logging
import os
import queue
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

_interest: dict[int, tuple[str | None, float]] = {}
_lock = threading.Lock()
log = logging.getLogger(__name__)


def has_notifications(repository_id: int) -> bool:
    return notified_name(repository_id) is not None


def notified_name(repository_id: int) -> str | None:
    """The repository's full name when it has an enabled notification (None otherwise), as this process last
    read it (within the cache): the events of a busy repository cost its requests no query."""
    ttl = settings.WHARF_NOTIFY_CACHE_SECONDS
    now = time.monotonic()
    with _lock:
        cached = _interest.get(repository_id)
    if cached is not None and ttl > 0 and cached[1] > now:
        return cached[0]
    from notifications.models import Notification
    from portal.repositories.models import Repository

    answer = None
    if Notification.objects.filter(repository_id=repository_id, enabled=True).exists():
        answer = Repository.objects.filter(pk=repository_id).values_list("full_name", flat=True).first()
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


# Even one broker message costs a request about 2 ms (Celery's publishing, measured by bench/notifybench.py),
# so the request only puts the event in this process's outbox; a thread of its own sends it. A process stopped
# gracefully sends what is left first (gunicorn's worker_exit, Celery's worker_process_shutdown, atexit); one
# killed outright loses the events of its last moments, as the audit log's batched pulls (portal/audit).
_outbox: queue.SimpleQueue[tuple[str, dict[str, Any], int]] = queue.SimpleQueue()
_sender_pid = 0
_sender_lock = threading.Lock()


def send(event: events.Event, repository_id: int) -> None:
    """Hand the event over: to a worker (one message, sent from this process's outbox), or inline where the
    settings say so."""
    from notifications import delivery

    if settings.WHARF_NOTIFY_FANOUT_INLINE:
        delivery.fan_out(event, repository_id)
        return
    kind, values = encode(event)
    _outbox.put((kind, values, repository_id))
    _start_sender()


def _start_sender() -> None:
    global _sender_pid
    with _sender_lock:
        if _sender_pid == os.getpid():   # one thread per process; a forked child starts its own
            return
        _sender_pid = os.getpid()
    threading.Thread(target=_send_forever, name="notifications-sender", daemon=True).start()


def _send_forever() -> None:
    while True:
        _publish(*_outbox.get())


def _publish(kind: str, values: dict[str, Any], repository_id: int) -> None:
    from portal.broker import enqueue

    try:   # by name: notifications.tasks imports this module
        enqueue("notifications.tasks.fan_out", kind, values, repository_id)
    except Exception:   # noqa: BLE001 (enqueue logs what the broker refused; this is anything else)
        log.exception("could not hand an event of repository %s to a worker", repository_id)


def flush() -> int:
    """Send what waits in this process's outbox now; returns how many."""
    sent = 0
    while True:
        try:
            item = _outbox.get_nowait()
        except queue.Empty:
            return sent
        _publish(*item)
        sent += 1


atexit.register(flush)
