"""The embedded broker (kombu's filesystem transport) made safe on a full disk, and enqueueing that never fails
a web request.

kombu writes a message straight into its final file name: on a full disk that leaves a 0-byte (or cut) file
in the queue folder, and an exchange table written then is empty too. Its reader parses whatever it finds, so
one such file made the worker exit with JSONDecodeError, and again on every restart. Here a message is
written under a name the reader does not match and renamed into the queue only once whole, and a file that
does not parse is moved aside into DATA_DIR/broker/broken (logged) instead of stopping the worker.

kombu's private names used here (Channel._put/_get/get_table/_queue_bind, data_folder_* and control_folder)
are pinned by tests/workers/test_broker.py, which runs this transport against the installed kombu.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

BROKEN_FOLDER = "broken"


def _parse(data: bytes) -> Any:
    return loads(data.decode())


class Channel(filesystem.Channel):
    def _broken_folder(self) -> Path:
        folder = Path(self.control_folder).parent / BROKEN_FOLDER
        folder.mkdir(exist_ok=True)
        return folder

    def _quarantine(self, path: Path | str, error: Exception) -> None:
        path = Path(path)
        try:
            shutil.move(path, self._broken_folder() / f"{path.name}.{uuid.uuid4().hex[:8]}")
        except OSError:
            path.unlink(missing_ok=True)
        log.warning("broker: moved aside %s, which does not parse (%s)", path.name, error)

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # as kombu's own
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"   # the reader takes only names that end in .<queue>.msg
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.rename(partial, final)
        except OSError as exc:
            Path(partial).unlink(missing_ok=True)   # nothing half-written stays in the folder
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            path = os.path.join(self.data_folder_in, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
                os.remove(path)   # claimed: another worker's remove fails and it moves on
            except OSError:
                continue
            try:
                return _parse(data)
            except ValueError as exc:
                self._keep_broken(name, data, exc)
        raise Empty()

    def _keep_broken(self, name: str, data: bytes, error: Exception) -> None:
        with contextlib.suppress(OSError):   # an empty file has nothing worth keeping anyway
            (self._broken_folder() / name).write_bytes(data)
        log.warning("broker: set aside message %s, which does not parse (%s)", name, error)

    def get_table(self, exchange: str) -> Any:
        try:
            return super().get_table(exchange)
        except ValueError as exc:
            self._quarantine(self._exchange_file(exchange), exc)
        # Routing by an empty table drops the message, and a producer that declared its queue once does not
        # declare it again. Celery names a queue, its exchange and its routing key alike (default, builds,
        # scans), so that route is bound again: messages keep reaching the queue after a broken table.
        super()._queue_bind(exchange, exchange, "", exchange)
        return super().get_table(exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        try:
            super()._queue_bind(exchange, routing_key, pattern, queue)
        except ValueError as exc:
            self._quarantine(self._exchange_file(exchange), exc)
            super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel


def enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send `task` (a task, or its name) with these arguments; False (logged) when the broker cannot take it,
    say on a full disk. A name lets a module send a task of the tasks module that imports it, without importing
    it back; the task routes (CELERY_TASK_ROUTES) apply by name all the same.

    For work that a request merely starts: the request's own change is committed already and must not turn
    into an error page. Periodic jobs run the missed work again.
    """
    try:
        if isinstance(task, str):
            from celery import current_app

            current_app.send_task(task, args=args, kwargs=kwargs)
        else:
            task.delay(*args, **kwargs)
    except Exception as exc:   # noqa: BLE001 (kombu's retry on a closed channel ends in AttributeError, not its own)
        log.error("could not enqueue %s: %r", task if isinstance(task, str) else getattr(task, "name", task), exc)
        return False
    return True


# --- Looking at the broker from outside: /readyz and /metrics ---------------------------------------------

# Celery's queues (settings.CELERY_TASK_DEFAULT_QUEUE and the workers' -Q lists).
QUEUES = ("default", "builds", "scans")
# kombu's Redis transport keeps a queue's messages sent with a priority in lists named after it: the plain
# name holds priority 0 (and messages sent without one), `<name>\x06\x16<step>` the others.
REDIS_PRIORITY_STEPS = (3, 6, 9)
REDIS_PRIORITY_SEP = "\x06\x16"
_redis_clients: dict[tuple[str, float], Any] = {}


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def redis_client(url: str, timeout: float) -> Any:
    """One client (and connection pool) per URL and timeout, shared by the threads of this process."""
    client = _redis_clients.get((url, timeout))
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        _redis_clients[(url, timeout)] = client
    return client


def _folder() -> Path:
    from django.conf import settings

    return Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))


def check(timeout: float) -> str:
    """Raise if the broker does not answer; else say what was checked. Redis: PING. The embedded broker:
    a file is written into its queue folder and removed (a name the reader never takes)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if is_redis(url):
        redis_client(url, timeout).ping()
        return "redis ping"
    if url == "filesystem://":
        probe = _folder() / f"readyz-{os.getpid()}-{uuid.uuid4().hex}.probe"
        probe.write_bytes(b"ok")
        probe.unlink()
        return "folder writable"
    from kombu import Connection

    with Connection(url, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
    return "connected"


def queue_lengths(timeout: float) -> dict[str, int]:
    """Messages waiting in each of QUEUES (Redis LLEN; the embedded broker's files); {} for other brokers."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if is_redis(url):
        pipe = redis_client(url, timeout).pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
            for step in REDIS_PRIORITY_STEPS:
                pipe.llen(f"{queue}{REDIS_PRIORITY_SEP}{step}")
        counts = pipe.execute()
        per_queue = len(REDIS_PRIORITY_STEPS) + 1
        return {queue: sum(counts[i * per_queue:(i + 1) * per_queue]) for i, queue in enumerate(QUEUES)}
    if url == "filesystem://":
        lengths = dict.fromkeys(QUEUES, 0)
        with os.scandir(_folder()) as entries:
            for entry in entries:
                queue = entry.name.partition(".")[2].removesuffix(".msg")
                if queue in lengths and entry.name.endswith(".msg"):
                    lengths[queue] += 1
        return lengths
    return {}
