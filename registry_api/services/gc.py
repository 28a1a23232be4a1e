"""Online garbage collection: remove what nothing references any more, while pushes go on.

What is garbage, each only once older than the grace period (WHARF_GC_GRACE_SECONDS), which protects a push in
flight (its blobs are uploaded before the manifest that references them arrives):
- a manifest that no tag points at, no index in its repository lists, that is not a referrer of a manifest still
  in its repository (a referrer lives as long as its subject: OCI lets a registry drop it with the subject), and
  that no tag-history entry still restorable (within WHARF_TAG_HISTORY_DAYS) names;
- a blob link (a repository's claim on a blob) that no manifest left in that repository references;
- a blob row that no link and no manifest references, and then its bytes;
- an object in storage with no row (under blobs/ no Blob, under uploads/ no Upload): debris of a crash, of a
  deleted repository's open uploads, of a run stopped between a row and its bytes. The storage protocol keeps
  no modification times, so such an object's age is when a run first saw it (GcOrphan).

How it stays safe beside pushes and other runs (the race: a push reads a link, then inserts the manifest that
references it, while a run decides the link is unreferenced and deletes it):
- Each batch picks candidates without a lock, then in a short write transaction locks them (PostgreSQL: FOR
  UPDATE SKIP LOCKED, so two runs split the work and a row a push holds is passed over) and deletes them with
  the condition checked again in the DELETE itself, in a statement that begins after the lock: whatever a push
  committed before is seen. The push holds KEY SHARE locks on the links and manifests it references
  (queries._key_share), so it either commits first or waits and then finds the row gone (MANIFEST_BLOB_UNKNOWN).
  On SQLite write transactions are serial, which gives the same.
- Bytes go only after their row's deletion has committed, and only while the run holds the digest's key in the
  blob table (an insert it always rolls back): an upload finishing the same digest inserts or locks that row
  before it checks its bytes are in place (services.blobs._check_in_place), so one of the two always sees the
  other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from portal import metrics
from portal.db import write_transaction
from registry_api import storage
from registry_api.models import Blob, BlobLink, GcOrphan, GcRun, Manifest, Tag, TagEvent, Upload
from registry_api.services.tags import history_cutoff

BATCH = 500
# Bytes are removed while the run holds the digests' keys: few per transaction, so that a push of one of them
# (or, on SQLite, any write) waits milliseconds at most.
BYTES_BATCH = 50
# An index's children become garbage once the index is gone, a referrer once its subject is: one pass each.
MAX_MANIFEST_PASSES = 16

log = logging.getLogger(__name__)


@dataclass
class GcResult:
    manifests: int = 0
    links: int = 0
    blobs: int = 0
    objects: int = 0
    bytes_freed: int = 0


def run(dry_run: bool = False, grace_seconds: int | None = None) -> GcRun:
    """Collect garbage once and record the run (also when it fails). A dry run removes nothing: it works in
    one transaction that it rolls back (on SQLite the only writer meanwhile), and touches no bytes."""
    grace = settings.WHARF_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
    with write_transaction():
        record = GcRun.objects.create(dry_run=dry_run)
    result = GcResult()
    try:
        if dry_run:
            with write_transaction():
                collect(timedelta(seconds=grace), result, dry_run=True)
                transaction.set_rollback(True)
        else:
            collect(timedelta(seconds=grace), result)
    except BaseException as exc:   # a time limit too: what was removed so far is recorded
        record.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        _finish(record, result)
    return record


def _finish(record: GcRun, result: GcResult) -> None:
    record.finished_at = timezone.now()
    record.manifests_removed, record.links_removed, record.blobs_removed = result.manifests, result.links, result.blobs
    record.objects_removed, record.bytes_freed = result.objects, result.bytes_freed
    with write_transaction():
        record.save()
    metrics.observe_gc(dry_run=record.dry_run, blobs_removed=result.blobs, manifests_removed=result.manifests,
                       bytes_freed=result.bytes_freed, seconds=record.duration_seconds or 0.0)


def collect(grace: timedelta, result: GcResult, dry_run: bool = False) -> GcResult:
    """Remove every kind of garbage older than `grace`, in bounded batches, into `result`."""
    cutoff = timezone.now() - grace
    for _ in range(MAX_MANIFEST_PASSES):
        removed = _sweep("manifest", cutoff, _remove_manifests)
        result.manifests += removed
        if not removed:
            break
    result.links += _sweep("link", cutoff, _remove_links)
    gone: list[tuple[str, int]] = []   # (digest, size) of the blob rows a batch removed
    freed: list[tuple[str, int]] = []

    def remove_bytes() -> None:
        # Once the rows' deletion has committed, never before: a rollback would leave rows without bytes.
        freed.extend(gone if dry_run else _remove_bytes(gone))
        gone.clear()

    result.blobs += _sweep("blob", cutoff, lambda ids: _remove_blobs(ids, gone), after=remove_bytes)
    result.bytes_freed += sum(size for _, size in freed)
    _sweep_storage(grace, result, dry_run, {digest for digest, _ in freed})
    return result


# --- Rows -------------------------------------------------------------------------------------------------------

@cache
def _sql() -> dict[str, str]:
    manifest, tag, event, link, blob = (Manifest._meta.db_table, Tag._meta.db_table, TagEvent._meta.db_table,
                                        BlobLink._meta.db_table, Blob._meta.db_table)
    children, manifest_blobs = Manifest.children.through._meta.db_table, Manifest.blobs.through._meta.db_table
    # Each condition takes the history cutoff (manifests) or nothing; the row's alias is x.
    unreferenced = {
        "manifest": f"NOT EXISTS (SELECT 1 FROM {tag} t WHERE t.manifest_id = x.id) "
                    f"AND NOT EXISTS (SELECT 1 FROM {children} c WHERE c.to_manifest_id = x.id) "
                    f"AND (x.subject_digest = '' OR NOT EXISTS (SELECT 1 FROM {manifest} s "
                    "WHERE s.repository_id = x.repository_id AND s.digest = x.subject_digest)) "
                    f"AND NOT EXISTS (SELECT 1 FROM {event} e WHERE e.repository_id = x.repository_id "
                    "AND e.created_at >= %s AND (e.digest = x.digest OR e.previous_digest = x.digest))",
        "link": f"NOT EXISTS (SELECT 1 FROM {manifest_blobs} mb JOIN {manifest} m ON m.id = mb.manifest_id "
                "WHERE mb.blob_id = x.blob_id AND m.repository_id = x.repository_id)",
        "blob": f"NOT EXISTS (SELECT 1 FROM {link} l WHERE l.blob_id = x.id) "
                f"AND NOT EXISTS (SELECT 1 FROM {manifest_blobs} mb WHERE mb.blob_id = x.id)",
    }
    tables = {"manifest": manifest, "link": link, "blob": blob}
    sql = {}
    for kind, table in tables.items():
        sql[f"{kind}_candidates"] = (f"SELECT x.id FROM {table} x WHERE x.id > %s AND x.created_at < %s "
                                     f"AND {unreferenced[kind]} ORDER BY x.id LIMIT %s")
        sql[f"{kind}_lock"] = f"SELECT id FROM {table} WHERE id IN ({{}}) ORDER BY id FOR UPDATE SKIP LOCKED"
        sql[f"{kind}_recheck"] = f"SELECT x.id FROM {table} x WHERE x.id IN ({{}}) AND {unreferenced[kind]}"
    sql["link_delete"] = f"DELETE FROM {link} WHERE id IN ({{}}) AND {unreferenced['link'].replace('x.', f'{link}.')}"
    sql["blob_delete"] = (f"DELETE FROM {blob} WHERE id IN ({{}}) AND {unreferenced['blob'].replace('x.', f'{blob}.')} "
                          "RETURNING digest, size")
    # The run's hold on a digest's key while it removes the bytes: see the module's docstring.
    sql["hold_digests"] = (f"INSERT INTO {blob} (digest, size, created_at) VALUES {{}} "
                           "ON CONFLICT (digest) DO NOTHING RETURNING digest")
    return sql


def _params(kind: str) -> list[Any]:
    return [connection.ops.adapt_datetimefield_value(history_cutoff())] if kind == "manifest" else []


def _fetch(sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _sweep(kind: str, cutoff: datetime, remove: Callable[[list[int]], int],
           after: Callable[[], None] | None = None) -> int:
    """Walk the table in id order, a batch of unreferenced rows at a time (read without locks), and hand each
    batch to `remove`, which decides again under lock, then call `after` once the batch has committed; returns
    how many rows it removed."""
    removed, last = 0, 0
    at = connection.ops.adapt_datetimefield_value(cutoff)
    while True:
        ids = [row[0] for row in _fetch(_sql()[f"{kind}_candidates"], [last, at, *_params(kind), BATCH])]
        if not ids:
            return removed
        last = ids[-1]
        with write_transaction():
            removed += remove(_still_unreferenced(kind, ids))
        if after is not None:
            after()


def _in(sql: str, ids: list[int]) -> str:
    return sql.format(", ".join(["%s"] * len(ids)))


def _still_unreferenced(kind: str, ids: list[int]) -> list[int]:
    """Of `ids`, those this transaction now holds (PostgreSQL: locked, passing over rows a push or another run
    holds) and that are still unreferenced, as a statement begun after the lock sees them."""
    if connection.vendor == "postgresql":
        ids = [row[0] for row in _fetch(_in(_sql()[f"{kind}_lock"], ids), ids)]
        if not ids:
            return []
    return [row[0] for row in _fetch(_in(_sql()[f"{kind}_recheck"], ids), [*ids, *_params(kind)])]


def _remove_manifests(ids: list[int]) -> int:
    # The ORM's delete, so that the rows of whatever references a manifest (its blob and child lists, and any
    # other app's) go with it; the ids are held and were checked in this transaction.
    return Manifest.objects.filter(id__in=ids).delete()[1].get(Manifest._meta.label, 0) if ids else 0


def _remove_links(ids: list[int]) -> int:
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_in(_sql()["link_delete"], ids), ids)
        return cursor.rowcount


def _remove_blobs(ids: list[int], gone: list[tuple[str, int]]) -> int:
    if not ids:
        return 0
    rows = _fetch(_in(_sql()["blob_delete"], ids), ids)
    gone.extend((str(digest), int(size)) for digest, size in rows)
    return len(rows)


def _remove_bytes(blobs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Delete the blobs' bytes, each while holding its digest's key; returns those removed (a blob whose row is
    back, uploaded again meanwhile, keeps its bytes)."""
    removed: list[tuple[str, int]] = []
    # In digest order: two runs holding keys never wait for each other in a circle.
    for batch in _batched(sorted(blobs), BYTES_BATCH):
        sizes = dict(batch)
        with write_transaction():
            for digest in _hold(list(sizes)):
                storage.backend().delete(storage.blob_key(digest))
                removed.append((digest, sizes[digest]))
            transaction.set_rollback(True)   # the hold was only a lock
    return removed


def _hold(digests: list[str]) -> list[str]:
    """Insert placeholder rows for `digests` (rolled back by the caller); returns the digests that had no row. An
    upload committing one of them meanwhile waits for the rollback, then finds the bytes gone and says so."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [value for digest in digests for value in (digest, -1, now)]
    return [row[0] for row in _fetch(_sql()["hold_digests"].format(", ".join(["(%s, %s, %s)"] * len(digests))),
                                     params)]


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- Storage objects without rows -------------------------------------------------------------------------------

def _sweep_storage(grace: timedelta, result: GcResult, dry_run: bool, counted: set[str]) -> None:
    """Remove objects under blobs/ and uploads/ that have had no row for longer than `grace`. `counted` are
    digests whose rows this (dry) run removed: their bytes are counted already."""
    seen_since = timezone.now()
    for keys in _batched(storage.backend().walk("blobs/"), BATCH):
        by_digest = {digest: key for key in keys if (digest := _digest_of(key)) is not None and digest not in counted}
        rowless = set(by_digest) - set(Blob.objects.filter(digest__in=by_digest).values_list("digest", flat=True))
        old = _aged([by_digest[digest] for digest in sorted(rowless)], grace)
        sizes = {digest: storage.backend().size(by_digest[digest]) or 0 for digest in sorted(rowless)
                 if by_digest[digest] in old}
        removed = list(sizes.items()) if dry_run else _remove_bytes(list(sizes.items()))
        _count_objects(result, [by_digest[digest] for digest, _ in removed], sum(size for _, size in removed))
    for keys in _batched(storage.backend().walk("uploads/"), BATCH):
        by_id = {key: _upload_id(key) for key in keys}
        live = {str(id_) for id_ in Upload.objects.filter(id__in={i for i in by_id.values() if i}).values_list(
            "id", flat=True)}
        old = _aged(sorted(key for key, id_ in by_id.items() if str(id_) not in live), grace)
        freed = sum(storage.backend().size(key) or 0 for key in old)
        if not dry_run:
            for key in old:   # an upload's row is inserted before its first byte: no row now means none to come
                storage.backend().delete(key)
        _count_objects(result, old, freed)
    with write_transaction():   # forget objects gone from storage (removed by this run or another, or by hand)
        GcOrphan.objects.filter(last_seen__lt=seen_since).delete()


def _count_objects(result: GcResult, keys: list[str], freed: int) -> None:
    result.objects += len(keys)
    result.bytes_freed += freed
    if keys:
        with write_transaction():
            GcOrphan.objects.filter(key__in=keys).delete()


def _aged(keys: list[str], grace: timedelta) -> list[str]:
    """Record `keys` as seen without a row now; returns those first seen so at least `grace` ago."""
    if not keys:
        return []
    now = timezone.now()
    with write_transaction():
        GcOrphan.objects.bulk_create([GcOrphan(key=key, first_seen=now, last_seen=now) for key in keys],
                                     ignore_conflicts=True)
        GcOrphan.objects.filter(key__in=keys).update(last_seen=now)
        return sorted(GcOrphan.objects.filter(key__in=keys, first_seen__lte=now - grace).values_list("key", flat=True))


def _digest_of(key: str) -> str | None:
    """blobs/<algorithm>/<xx>/<encoded> → algorithm:encoded (None for anything else)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "blobs" or not parts[3].startswith(parts[2]):
        return None
    return f"{parts[1]}:{parts[3]}"


def _upload_id(key: str) -> uuid.UUID | None:
    """uploads/<id>[/...] → the session's id (a backend may keep several objects per session)."""
    try:
        return uuid.UUID(key.split("/")[1])
    except (IndexError, ValueError):
        return None
