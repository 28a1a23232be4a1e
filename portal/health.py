"""GET /healthz (the process answers) and GET /readyz (the database, the broker and the blob storage answer).

Both are for load balancers and orchestrators: no authentication, no session, no database for /healthz. They run
on the registry's middleware-free handler (portal/handlers.py), so a node whose database is gone still answers
/healthz at once and /readyz with the JSON naming what failed.

/readyz runs its three checks at once, each in a daemon thread of its own with WHARF_READY_TIMEOUT seconds to answer: a
database host that drops packets costs the probe that long, not a TCP timeout. A check still hanging from an
earlier probe is waited on again rather than started twice, so a dead dependency holds at most one thread per
check. What failed is named in the answer by its exception's class only (an address or a path is for the log).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from portal import broker
from registry_api import storage

log = logging.getLogger(__name__)

PROBE = b"ready"
NO_STORE = {"Cache-Control": "no-store"}

_running: dict[str, Future[tuple[str, float]]] = {}
_lock = threading.Lock()
_last: tuple[float, dict[str, dict[str, Any]]] | None = None   # (when, results) of this process's last probe


@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"}, headers=NO_STORE)


@csrf_exempt
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    results = run_checks(settings.WHARF_READY_TIMEOUT)
    failed = sorted(name for name, result in results.items() if not result["ok"])
    body: dict[str, Any] = {"status": "unavailable" if failed else "ok", "checks": results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200, headers=NO_STORE)


def check_database(timeout: float) -> str:
    """A trivial query on a connection of this thread's own, closed afterwards: it proves that a new
    connection can be made, which is what the next request will need."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()
    return connection.vendor


def check_broker(timeout: float) -> str:
    return broker.check(timeout)


def check_storage(timeout: float) -> str:
    """Write, measure and delete a small object through the storage protocol (any backend), under a key of
    this probe's own: the write path is what a push needs, and a read-only or missing store fails it."""
    backend = storage.backend()
    key = f"readyz/{os.getpid()}-{uuid.uuid4().hex}"
    writer = backend.writer(key)
    try:
        writer.write(PROBE)
    finally:
        writer.close()
    try:
        if backend.size(key) != len(PROBE):
            raise OSError("the probe object was not stored whole")
    finally:
        backend.delete(key)
    return type(backend).__name__


CHECKS: dict[str, Callable[[float], str]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def run_checks(timeout: float) -> dict[str, dict[str, Any]]:
    """Each check's result; within WHARF_READY_CACHE_SECONDS of the last probe, that probe's (anyone may ask,
    and a probe opens a database connection and writes to storage)."""
    global _last
    started = time.monotonic()
    last = _last
    if last is not None and started - last[0] < settings.WHARF_READY_CACHE_SECONDS:
        return last[1]
    results = _probe(timeout, started)
    _last = (time.monotonic(), results)
    return results


def _probe(timeout: float, started: float) -> dict[str, dict[str, Any]]:
    with _lock:
        futures = {name: _start(name, check, timeout) for name, check in CHECKS.items()}
    results = {}
    for name, future in futures.items():
        remaining = max(0.0, timeout - (time.monotonic() - started))
        try:
            detail = future.result(timeout=remaining)
        except FutureTimeout:
            results[name] = {"ok": False, "error": f"no answer within {timeout:g}s"}
            log.warning("readyz: the %s check did not answer within %gs", name, timeout)
        except Exception as exc:   # noqa: BLE001 (any failure is an answer: not ready)
            results[name] = {"ok": False, "error": type(exc).__name__}
            log.warning("readyz: the %s check failed: %s: %s", name, type(exc).__name__, exc)
        else:
            results[name] = {"ok": True, "detail": detail[0], "ms": round(detail[1] * 1000, 1)}
    return results


def _start(name: str, check: Callable[[float], str], timeout: float) -> Future[tuple[str, float]]:
    running = _running.get(name)
    if running is not None and not running.done():
        return running   # still hanging from an earlier probe: wait on it again
    future: Future[tuple[str, float]] = Future()
    future.set_running_or_notify_cancel()
    # A daemon thread: one hanging on a dead host must not hold up the worker's exit.
    threading.Thread(target=_run, args=(future, check, timeout), name=f"readyz-{name}", daemon=True).start()
    _running[name] = future
    return future


def _run(future: Future[tuple[str, float]], check: Callable[[float], str], timeout: float) -> None:
    try:
        future.set_result(_timed(check, timeout))
    except BaseException as exc:   # noqa: BLE001 (handed to the waiting probe, which reports it)
        future.set_exception(exc)


def _timed(check: Callable[[float], str], timeout: float) -> tuple[str, float]:
    started = time.perf_counter()
    detail = check(timeout)
    return detail, time.perf_counter() - started
