"""A build's log: written line by line as podman prints it (in chunks a few times a second, secrets masked,
up to WHARF_BUILD_LOG_LIMIT bytes with a note where it was cut), read from any line on by the pages and the API
while the build runs and after."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from builds.models import Build, BuildLogChunk
from portal.db import write_transaction

MASK = "********"
FLUSH_SECONDS = 0.25    # a line reaches the page within about a second: written within this, polled each second
FLUSH_LINES = 500
MAX_LINE = 16 * 1024    # a longer line (a progress bar without newlines) is cut


class Masker:
    """Replaces every secret (registry tokens, clone credentials, secret build arguments) in a line."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets: list[str] = []
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str) -> None:
        # Short values would mask ordinary words ("1", "on"); a secret build argument that short is no secret.
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)   # the longest first: a secret containing another

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class LogWriter:
    """Collects lines from the threads that read podman's output and writes them in chunks. `line()` is
    thread-safe; `flush()` writes what is pending (also done by `line()` every FLUSH_SECONDS), and beats the
    build's heartbeat, so a build that prints nothing for a while still shows its worker is alive."""

    def __init__(self, build_id: int, masker: Masker, *, limit: int | None = None, first_line: int = 0,
                 written_bytes: int = 0) -> None:
        self.build_id = build_id
        self.mask = masker
        self.limit = settings.WHARF_BUILD_LOG_LIMIT if limit is None else limit
        self._next = first_line
        self._bytes = written_bytes
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._cut = False
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def line(self, text: str) -> None:
        text = self.mask(text.rstrip("\r\n").replace("\x00", ""))
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + " …(line cut)"
        with self._lock:
            if self._cut:
                return
            size = len(text.encode()) + 1
            if self._bytes + self._pending_bytes + size > self.limit:
                self._cut = True
                text = f"… the log is cut here: it reached {self.limit // (1024 * 1024) or self.limit} " \
                       f"{'MiB' if self.limit >= 1024 * 1024 else 'bytes'}; the build goes on."
                size = len(text.encode()) + 1
            self._pending.append(text)
            self._pending_bytes += size
            due = len(self._pending) >= FLUSH_LINES or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if due:
            self.flush()

    def pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def flush(self) -> None:
        with self._lock:
            lines, size, cut = self._pending, self._pending_bytes, self._cut
            self._pending, self._pending_bytes = [], 0
            first = self._next
            self._next += len(lines)
            self._bytes += size
            self._last_flush = time.monotonic()
            with write_transaction():
                if lines:
                    BuildLogChunk.objects.create(build_id=self.build_id, first_line=first, line_count=len(lines),
                                                 text="".join(f"{line}\n" for line in lines))
                Build.objects.filter(pk=self.build_id).update(
                    log_lines=F("log_lines") + len(lines), log_bytes=F("log_bytes") + size, log_truncated=cut,
                    heartbeat_at=timezone.now())


@dataclass(frozen=True)
class LogPage:
    lines: list[str]
    start: int          # the number of the first line in `lines`
    next: int           # where to ask from next time
    finished: bool      # the build has ended: nothing more will come
    truncated: bool


def read(build: Build, start: int = 0, limit: int = 2000) -> LogPage:
    """Lines `start`… of the build's log (at most `limit`), in two statements."""
    start = max(0, start)
    status = Build.objects.filter(pk=build.pk).values_list("status", "log_truncated").first()
    finished = status is None or status[0] not in ("queued", "running", "pushing")
    truncated = bool(status and status[1])
    lines: list[str] = []
    # The status is read first: once it says finished, the worker had written its last line (it flushes before
    # it ends the build), so a reader that sees `finished` has seen everything.
    chunks = (BuildLogChunk.objects.filter(build_id=build.pk, first_line__lt=start + limit)
              .alias(end=F("first_line") + F("line_count")).filter(end__gt=start)
              .order_by("first_line").values_list("first_line", "line_count", "text"))
    for first, _count, text in chunks:
        chunk_lines = text.split("\n")[:-1]
        lines.extend(chunk_lines[max(0, start - first):])
        if len(lines) >= limit:
            break
    lines = lines[:limit]
    return LogPage(lines, start, start + len(lines), finished, truncated)


def full_text(build: Build) -> str:
    """The whole log as text (the download)."""
    return "".join(BuildLogChunk.objects.filter(build_id=build.pk).order_by("first_line")
                   .values_list("text", flat=True).iterator())
