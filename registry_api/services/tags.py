"""The registry's own tag rules beyond a push: move a tag, delete it, set its expiry, restore it from its
history, and the periodic jobs that expire tags and forget old history.

A tag moves through `point_tag` and a deletion is recorded through `record_tag_event` (manifests.py), so a push,
a move and a restore write the same history and send the same signal. Each function here takes the write
transaction itself and may run inside the caller's, which is how the portal writes its audit log in the same
transaction (portal/repositories/tags.py). Refusals are registry errors; the portal words them for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portal.db import write_transaction
from portal.names import is_supported_digest, is_valid_tag
from registry_api import queries
from registry_api.errors import DigestInvalid, ManifestUnknown, TagInvalid, TagNotRestorable
from registry_api.models import Tag, TagEvent
from registry_api.queries import Repository
from registry_api.services.manifests import point_tag, record_tag_event

EXPIRY_BATCH = 500
PRUNE_BATCH = 10_000


@dataclass(frozen=True)
class Restored:
    previous: str | None          # where the tag pointed before the restore (None: there was no tag)
    expires_at: datetime | None   # the expiry the restore gave the tag (None: none, or nothing moved)


@dataclass(frozen=True)
class ExpiredTag:
    repository: Repository
    name: str
    digest: str
    expires_at: datetime | None


def _check(name: str, digest: str | None = None) -> None:
    if not is_valid_tag(name):
        raise TagInvalid(detail={"tag": name[:200]})
    if digest is not None and not is_supported_digest(digest):
        raise DigestInvalid("invalid digest", detail={"digest": digest[:200]})


def move_tag(repository: Repository, name: str, digest: str, actor_id: int | None) -> str | None:
    """Create tag `name` on the repository's manifest `digest`, or move it there; returns where it pointed
    before (None: nowhere). Raises TagInvalid, DigestInvalid, or ManifestUnknown for a manifest not here."""
    _check(name, digest)
    with write_transaction():
        manifest_id = queries.manifest_id(repository, digest)
        if manifest_id is None:
            raise ManifestUnknown(detail={"digest": digest})
        previous = queries.current_tag(repository, name)
        point_tag(repository, name, manifest_id, digest, actor_id)
    return previous


def delete_tag(repository: Repository, name: str, actor_id: int | None) -> str:
    """Remove the tag (its manifest stays) into the history, which keeps it restorable; returns the digest it
    pointed at. Raises TagInvalid, or ManifestUnknown when there is no live tag of that name."""
    _check(name)
    with write_transaction():
        state = queries.tag_state(repository, name)   # locks the tag's row on PostgreSQL
        if state is None or state.expired:   # an expired tag is gone for everyone; the expiry job records it
            raise ManifestUnknown(detail={"tag": name})
        Tag.objects.filter(repository_id=repository.pk, name=name).delete()
        record_tag_event(repository, name, TagEvent.Kind.DELETED, "", state.digest, actor_id, state.expires_at)
    return state.digest


def set_expiry(repository: Repository, name: str, expires_at: datetime | None) -> None:
    """Set (or with None clear) when the live tag is removed. Raises TagInvalid, or ManifestUnknown."""
    _check(name)
    with write_transaction():
        if not Tag.objects.live().filter(repository_id=repository.pk, name=name).update(expires_at=expires_at):
            raise ManifestUnknown(detail={"tag": name})


# --- History and restore ----------------------------------------------------------------------------------------

def history_cutoff() -> datetime:
    """The oldest moment the tag history still covers (WHARF_TAG_HISTORY_DAYS ago)."""
    return timezone.now() - timedelta(days=settings.WHARF_TAG_HISTORY_DAYS)


def restored_expiries(repository: Repository,
                      targets: set[tuple[str, str]]) -> dict[tuple[str, str], datetime | None]:
    """(tag, digest) → the expiry that restoring the tag to the digest gives it: the one the tag had when it
    last left that manifest (moved or deleted) within the retention window, or None when that expiry has
    passed by now. A tag that expired is wanted back, so it comes back without an expiry (as in Quay, whose
    restored tags start a new lifetime), rather than be refused or be deleted again within the minute.
    One statement, whatever the number of targets; the history page and restore_tag both ask it."""
    if not targets:
        return {}
    events = (TagEvent.objects.filter(repository_id=repository.pk, created_at__gte=history_cutoff(),
                                      tag__in={tag for tag, _ in targets},
                                      previous_digest__in={digest for _, digest in targets})
              .exclude(kind=TagEvent.Kind.PUSHED).order_by("created_at", "id")
              .values_list("tag", "previous_digest", "previous_expires_at"))
    now = timezone.now()
    left = {(tag, digest): expires_at for tag, digest, expires_at in events if (tag, digest) in targets}
    return {key: expires_at if expires_at is not None and expires_at > now else None
            for key, expires_at in left.items()}


def restore_tag(repository: Repository, name: str, digest: str, actor_id: int | None) -> Restored:
    """Point the tag back at a manifest it pointed at within the retention window, with the expiry it had
    when it left that manifest (none if that time has passed: see restored_expiries); a tag already there
    keeps its expiry. Raises TagInvalid, DigestInvalid, TagNotRestorable when the history does not have the
    tag at that digest, or ManifestUnknown when the manifest has been deleted since."""
    _check(name, digest)
    was_there = TagEvent.objects.filter(repository_id=repository.pk, tag=name, created_at__gte=history_cutoff()).filter(
        Q(digest=digest) | Q(previous_digest=digest)).exists()
    if not was_there:
        raise TagNotRestorable(detail={"tag": name, "digest": digest})
    with write_transaction():
        manifest_id = queries.manifest_id(repository, digest)
        if manifest_id is None:
            raise ManifestUnknown(detail={"digest": digest})
        expires_at = restored_expiries(repository, {(name, digest)}).get((name, digest))
        previous = queries.current_tag(repository, name)
        point_tag(repository, name, manifest_id, digest, actor_id)
        if previous == digest:   # nothing moved
            return Restored(previous, None)
        Tag.objects.filter(repository_id=repository.pk, name=name).update(expires_at=expires_at)
    return Restored(previous, expires_at)


# --- Periodic jobs ----------------------------------------------------------------------------------------------

def expire_tags(now: datetime, on_batch: Callable[[list[ExpiredTag]], None] | None = None) -> int:
    """Delete every tag whose expiry is at or before `now`, in batches; returns how many.

    Each deletion goes into the history (actor: none), so an expired tag can be restored. `on_batch` is
    called with each batch inside its transaction (the portal audits there: a batch and its log commit
    together). Two runs at once split the work: a batch's rows are locked and the other run skips them
    (PostgreSQL).
    """
    repositories = Tag._meta.get_field("repository").related_model._default_manager
    expired = 0
    while True:
        with write_transaction():
            batch = list(Tag.objects.select_for_update(skip_locked=True, of=("self",))
                         .filter(expires_at__lte=now).order_by("expires_at", "id")
                         .values_list("id", "repository_id", "name", "manifest__digest", "expires_at")
                         [:EXPIRY_BATCH])
            if not batch:
                return expired
            Tag.objects.filter(id__in=[row[0] for row in batch]).delete()
            rows = repositories.in_bulk({row[1] for row in batch})
            gone = [ExpiredTag(rows[repository_id], name, digest, expires_at)
                    for _, repository_id, name, digest, expires_at in batch]
            for tag in gone:
                record_tag_event(tag.repository, tag.name, TagEvent.Kind.DELETED, "", tag.digest, None,
                                 tag.expires_at)
            if on_batch is not None:
                on_batch(gone)
        expired += len(batch)


def prune_tag_history(cutoff: datetime) -> int:
    """Forget tag events older than `cutoff`, in batches; returns how many."""
    pruned = 0
    while True:
        ids = list(TagEvent.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)
                   [:PRUNE_BATCH])
        if not ids:
            return pruned
        with write_transaction():
            pruned += TagEvent.objects.filter(id__in=ids).delete()[0]
