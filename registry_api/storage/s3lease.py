"""The lease that makes one writer the holder of an S3 key on every node (registry_api/storage/s3.py), and the
classification of S3's errors both modules use.

Exclusive writers across nodes. `writer` takes a lease: the lock object `<prefix>.locks/K`, created with a
conditional PutObject (If-None-Match: *), so one holder wins however many nodes try. A heartbeat thread of
the holder renews it (PutObject with If-Match on its own ETag) every LEASE_SECONDS / 3 (5 s) until close
deletes it, so a lease lapses when its process dies, not when a request is slow. A lock not renewed for
LEASE_SECONDS (15 s), measured on the store's own clock (the lock's Last-Modified against the response's
Date), belongs to a holder that died; it is taken over with If-Match on its ETag, so only one taker wins. The
holder checks before each part and before its tail (the commit) that its last renewal is under two thirds
of the lease old, and fails (LeaseLost) otherwise.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_api.storage.base import KeyBusy

LEASE_SECONDS = 15

log = logging.getLogger(__name__)


class LeaseLost(OSError):
    """Another writer took the key over, or this one could not renew its lease in time."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    return error_code(exc) in ("NoSuchKey", "404", "NotFound")


def is_conflict(exc: ClientError) -> bool:
    return error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")



class Lease:
    """The lock object that makes one writer the holder of a key on every node."""

    def __init__(self, client: Any, bucket: str, lock_key: str, key: str) -> None:
        self._client, self._bucket, self._key, self._lock = client, bucket, key, lock_key
        self._token = secrets.token_hex(8)
        self.etag = self._acquire()
        self._renewed = time.monotonic()
        self._lost = False
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="s3-lease", daemon=True)
        self._beat.start()

    def _put(self, **condition: str) -> str:
        # Every write has a body of its own, so that its ETag names this holder and this renewal alone.
        body = f"{socket.gethostname()} {os.getpid()} {self._token} {time.time_ns()}\n".encode()
        response = self._client.put_object(Bucket=self._bucket, Key=self._lock, Body=body, **condition)
        return str(response["ETag"])

    def _acquire(self) -> str:
        try:
            return self._put(IfNoneMatch="*")
        except ClientError as exc:
            if not is_conflict(exc):
                raise
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._lock)
        except ClientError as exc:
            if is_missing(exc):   # released meanwhile: the next request will find it free
                raise KeyBusy(self._key) from None
            raise
        now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        if (now - head["LastModified"]).total_seconds() < LEASE_SECONDS:
            raise KeyBusy(self._key)
        try:
            return self._put(IfMatch=head["ETag"])   # the holder died; only one taker wins
        except ClientError as exc:
            if is_conflict(exc) or is_missing(exc):
                raise KeyBusy(self._key) from None
            raise

    def _heartbeat(self) -> None:
        """Renew every third of the lease for as long as the holder lives: a lease lapses only when its
        process dies (or loses the store), never because a request is slow. Taken over means lost for good."""
        while not self._stop.wait(LEASE_SECONDS / 3):
            try:
                self.etag = self._put(IfMatch=self.etag)
            except ClientError as exc:
                if is_conflict(exc) or is_missing(exc):
                    self._lost = True
                    return
                log.warning("could not renew the lease on %s: %s", self._key, error_code(exc))
                continue
            except BotoCoreError as exc:
                log.warning("could not renew the lease on %s: %s", self._key, exc)
                continue
            self._renewed = time.monotonic()

    def check(self) -> None:
        """LeaseLost unless this writer surely still holds the key: renewed within two thirds of the lease,
        so that no other can have found it lapsed (the store measures a third more before it lapses)."""
        if self._lost or time.monotonic() - self._renewed > LEASE_SECONDS * 2 / 3:
            raise LeaseLost(errno.EBUSY, f"lost the lease on {self._key}")

    def release(self) -> None:
        self._stop.set()
        self._beat.join()
        if self._lost:
            return
        try:
            self._client.delete_object(Bucket=self._bucket, Key=self._lock, IfMatch=self.etag)
        except ClientError as exc:
            if not (is_conflict(exc) or is_missing(exc)):   # someone else's lock now: leave it
                raise
