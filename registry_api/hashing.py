"""Digest state of uploads in progress, kept in this process between a session's PATCH requests.

hashlib cannot serialise its state, so a session continued by another process (or after a restart)
has no entry here; `finish` then re-reads the bytes from storage. The cache only saves that re-read.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

_states: OrderedDict[str, tuple[int, Any]] = OrderedDict()
_lock = threading.Lock()
_MAX_ENTRIES = 512


def resume(upload_id: object, size: int) -> Any | None:
    """The sha256 state of the first `size` bytes of the upload; a fresh one when `size` is 0."""
    if size == 0:
        return hashlib.sha256()
    with _lock:
        entry = _states.pop(str(upload_id), None)
    if entry is None or entry[0] != size:
        return None
    return entry[1]


def remember(upload_id: object, size: int, state: Any) -> None:
    with _lock:
        _states[str(upload_id)] = (size, state)
        while len(_states) > _MAX_ENTRIES:
            _states.popitem(last=False)


def forget(upload_id: object) -> None:
    with _lock:
        _states.pop(str(upload_id), None)
