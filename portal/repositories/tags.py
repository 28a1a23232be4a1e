"""Tags as the portal sees them: a page of tags with sizes, scans and platforms, the manifest page, the tag
actions (delete, retag, expiry, restore) and the tag history ("time machine") they are restored from.

The registry keeps the rules of tags themselves (registry_api/services/tags.py); this module checks what a
person asked for, words the registry's refusals for them (Invalid/NotFound, on the form's field), and writes
the audit log in the same transaction as the change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from portal import audit
from portal.access import Principal
from portal.db import write_transaction
from portal.errors import Invalid, NotFound
from portal.names import is_supported_digest, is_valid_tag
from portal.repositories.models import Repository
from registry_api import content
from registry_api.errors import ManifestUnknown, TagNotRestorable
from registry_api.models import Manifest, Tag, TagEvent
from registry_api.services import tags as registry_tags
from registry_api.services.manifests import image_config, referrers
from scanning.summaries import Summary, summaries

MAX_PER_PAGE = 500
MAX_DETAIL_TAGS = 100
# Who the audit log names for what Wharf does by itself (expiring tags).
SYSTEM = Principal("system", "wharf")

ScanInfo = Summary        # a tag's scan column is the scanning app's summary as it is
LayerRow = content.Layer  # and a layer row is the layer as the registry reads it


@dataclass
class PlatformRow:
    os: str
    architecture: str
    variant: str
    digest: str
    image_size: int


@dataclass
class TagRow:
    name: str
    digest: str
    media_type: str
    image_size: int
    updated_at: datetime
    expires_at: datetime | None
    scan: ScanInfo | None
    platforms: list[PlatformRow] = field(default_factory=list)


@dataclass
class TagPage:
    rows: list[TagRow]
    total: int
    page: int
    per_page: int
    num_pages: int


@dataclass
class HistoryEntry:
    tag: str
    kind: str
    digest: str
    previous_digest: str
    actor: str
    created_at: datetime
    restorable_digest: str   # "" when there is nothing to restore from this entry
    previous_expires_at: datetime | None = None   # the tag's expiry when this event moved or deleted it
    # What restoring restorable_digest sets the expiry to (None: no expiry, also for one that has passed).
    restore_expires_at: datetime | None = None


@dataclass
class ManifestDetail:
    digest: str
    media_type: str
    artifact_type: str
    size: int
    image_size: int
    created_at: datetime
    tags: list[str]             # up to MAX_DETAIL_TAGS names, in byte order
    layers: list[LayerRow]
    config_digest: str
    labels: dict[str, str]
    annotations: dict[str, str]
    platforms: list[PlatformRow]
    referrers: list[dict[str, Any]]
    os: str
    architecture: str


# --- The tags page ----------------------------------------------------------------------------------------------

_ROW_FIELDS = ("name", "manifest_id", "manifest__digest", "manifest__media_type", "manifest__image_size",
               "updated_at", "expires_at")


def tag_page(repository: Repository, *, name_filter: str = "", page: int = 1, per_page: int = 50) -> TagPage:
    """One page of the repository's tags, newest first; `name_filter` is a case-insensitive substring.

    A page past the end gives the last page. Whatever the tag count, this is at most six statements: the
    expired tags the job has not deleted yet, the count, the page, its scan summaries (scanning.summaries),
    and, when the page shows an index, its contents and the sizes of its children.
    """
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    now = timezone.now()
    tags = Tag.objects.filter(repository=repository)
    if name_filter:
        tags = tags.filter(name__icontains=name_filter)
    # Expired tags are hidden, but testing every tag's expiry makes the count read the wide tag_recent
    # instead of the narrow repository index (100,000 tags: 3 -> 7 ms, filtered 12 -> 30 ms). So count
    # them apart, from tag_expired_here, and subtract; only when there are some does the page test it.
    expired = tags.expired(now).count()
    total = tags.count() - expired
    if expired:
        tags = tags.live(now)
    num_pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), num_pages)
    start = (page - 1) * per_page
    # A deferred join: the page's ids are found in the tag table alone, so a deep page skips its
    # predecessors without joining each of them to its manifest (100,000 tags: last page 160 -> 40 ms).
    ids = tags.order_by("-updated_at", "name").values("id")[start:start + per_page]
    page_tags = Tag.objects.filter(id__in=ids).order_by("-updated_at", "name")
    rows = _rows(repository, page_tags) if total else []
    return TagPage(rows, total, page, per_page, num_pages)


def _rows(repository: Repository, tags: Any) -> list[TagRow]:
    values = list(tags.values_list(*_ROW_FIELDS))
    scans = summaries(row[1] for row in values)
    platforms = _platforms_of(repository, {row[1] for row in values if row[3] in content.INDEXES})
    return [TagRow(name, digest, media_type, image_size, updated_at, expires_at, scans.get(manifest_id),
                   platforms.get(manifest_id, []))
            for name, manifest_id, digest, media_type, image_size, updated_at, expires_at in values]


def _platforms_of(repository: Repository, index_ids: set[int]) -> dict[int, list[PlatformRow]]:
    """manifest id → one row per child of that index (two statements, whatever the number of indexes)."""
    if not index_ids:
        return {}
    # The registry validated each index when it was pushed; read leniently all the same.
    entries = {id_: content.index_entries(content.read_object(bytes(body)))
               for id_, body in Manifest.objects.filter(id__in=index_ids).values_list("id", "content")}
    digests = {entry.digest for children in entries.values() for entry in children}
    sizes = dict(Manifest.objects.filter(repository=repository, digest__in=digests)
                 .values_list("digest", "image_size"))
    return {id_: [PlatformRow(e.os, e.architecture, e.variant, e.digest, sizes.get(e.digest, 0)) for e in children]
            for id_, children in entries.items()}


def tag_row(repository: Repository, name: str) -> TagRow:
    """One tag as the tags page shows it; NotFound when there is no such tag."""
    rows = _rows(repository, Tag.objects.live().filter(repository=repository, name=name))
    if not rows:
        raise _no_tag(repository, name)
    return rows[0]


# --- Tag actions ------------------------------------------------------------------------------------------------

def _check_tag(name: str) -> None:
    if not is_valid_tag(name):
        raise Invalid(f"'{name[:200]}' is not a valid tag: use up to 128 letters, digits, '_', '.' and '-', "
                      "not starting with '.' or '-'.", "tag")


def _check_digest(digest: str, field_name: str = "manifest_digest") -> None:
    if not is_supported_digest(digest):
        raise Invalid(f"'{digest[:200]}' is not a valid digest (sha256:<64 hex digits> or sha512:<128>).",
                      field_name)


def _no_tag(repository: Repository, name: str) -> NotFound:
    return NotFound(f"There is no tag '{name}' in {repository.full_name}.", "tag")


def delete_tag(principal: Principal, repository: Repository, name: str, client_ip: str | None = None) -> None:
    """Remove the tag (its manifest stays); the history keeps it restorable. The caller checked write."""
    _check_tag(name)
    with write_transaction():
        try:
            digest = registry_tags.delete_tag(repository, name, principal.user_id)
        except ManifestUnknown:
            raise _no_tag(repository, name) from None
        audit.record("tag_delete", principal, client_ip=client_ip, repository=repository, target=name,
                     digest=digest)


def retag(principal: Principal, repository: Repository, name: str, manifest_digest: str,
          client_ip: str | None = None) -> TagRow:
    """Create tag `name` on a manifest of the repository, or move it there. The caller checked write."""
    _check_tag(name)
    _check_digest(manifest_digest)
    with write_transaction():
        try:
            previous = registry_tags.move_tag(repository, name, manifest_digest, principal.user_id)
        except ManifestUnknown:
            raise NotFound(f"There is no manifest {manifest_digest} in {repository.full_name}.",
                           "manifest_digest") from None
        if previous != manifest_digest:   # pointing a tag where it already points changes nothing
            audit.record("tag_create", principal, client_ip=client_ip, repository=repository, target=name,
                         digest=manifest_digest, previous=previous or "")
    return tag_row(repository, name)


def validate_expiry(expires_at: datetime | None) -> None:
    """Invalid for a time that has already passed (None, no expiry, is always fine)."""
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("The expiry is in the past: choose a time in the future, or none to keep the tag.",
                      "expires_at")


def set_expiry(principal: Principal, repository: Repository, name: str, expires_at: datetime | None,
               client_ip: str | None = None) -> None:
    """Set (or with None clear) when the tag is removed. The caller checked write."""
    _check_tag(name)
    validate_expiry(expires_at)
    with write_transaction():
        try:
            registry_tags.set_expiry(repository, name, expires_at)
        except ManifestUnknown:
            raise _no_tag(repository, name) from None
        audit.record("tag_expiry", principal, client_ip=client_ip, repository=repository, target=name,
                     expires_at=expires_at.isoformat() if expires_at else None)


# --- History and restore ----------------------------------------------------------------------------------------

def tag_history(repository: Repository, name: str | None = None, *, page: int = 1,
                per_page: int = 50) -> tuple[list[HistoryEntry], int]:
    """The moves of one tag (or of every tag) within WHARF_TAG_HISTORY_DAYS, newest first, and their total.

    A page past the end gives the last page. Five statements: the count, the page, which of the digests it
    names still exist, where its tags point now, and the expiries that its restores would bring back.
    """
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    events = TagEvent.objects.filter(repository=repository, created_at__gte=registry_tags.history_cutoff())
    if name is not None:
        events = events.filter(tag=name)
    total = events.count()
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    start = (page - 1) * per_page
    # The page's ids first, from the events alone (a deferred join, as in tag_page), then their actors.
    ids = events.order_by("-created_at", "-id").values("id")[start:start + per_page]
    rows = list(TagEvent.objects.filter(id__in=ids).order_by("-created_at", "-id").values_list(
        "tag", "kind", "digest", "previous_digest", "actor__username", "created_at", "previous_expires_at"))
    candidates = {row[3] for row in rows if row[1] != TagEvent.Kind.PUSHED and row[3]}
    existing = set(Manifest.objects.filter(repository=repository, digest__in=candidates)
                   .values_list("digest", flat=True)) if candidates else set()
    current = dict(Tag.objects.live().filter(repository=repository, name__in={row[0] for row in rows})
                   .values_list("name", "manifest__digest")) if candidates else {}
    entries = []
    for tag, kind, digest, previous, actor, created_at, previous_expires_at in rows:
        # Restorable: what the tag pointed at before this move, if it is still here and not already back.
        restorable = previous if previous in existing and current.get(tag) != previous else ""
        entries.append(HistoryEntry(tag, kind, digest, previous, actor or "", created_at, restorable,
                                    previous_expires_at))
    restores = registry_tags.restored_expiries(
        repository, {(e.tag, e.restorable_digest) for e in entries if e.restorable_digest})
    for entry in entries:
        entry.restore_expires_at = restores.get((entry.tag, entry.restorable_digest))
    return entries, total


def restore_tag(principal: Principal, repository: Repository, name: str, manifest_digest: str,
                client_ip: str | None = None) -> TagRow:
    """Point the tag back at a manifest it pointed at within the retention window, with the expiry it had
    when it left that manifest (registry_api.services.tags.restore_tag). The caller checked write."""
    _check_tag(name)
    _check_digest(manifest_digest)
    with write_transaction():
        try:
            restored = registry_tags.restore_tag(repository, name, manifest_digest, principal.user_id)
        except TagNotRestorable:
            days = settings.WHARF_TAG_HISTORY_DAYS
            raise Invalid(f"The tag '{name}' did not point at {manifest_digest} in the last {days} days, so it "
                          "cannot be restored to it; pick a digest from the tag's history.",
                          "manifest_digest") from None
        except ManifestUnknown:
            raise Invalid(f"The manifest {manifest_digest} has been deleted from {repository.full_name}, so "
                          f"'{name}' cannot be restored to it.", "manifest_digest") from None
        detail: dict[str, Any] = {"digest": manifest_digest, "previous": restored.previous or ""}
        if restored.expires_at is not None:
            detail["expires_at"] = restored.expires_at.isoformat()
        audit.record("tag_restore", principal, client_ip=client_ip, repository=repository, target=name, **detail)
    return tag_row(repository, name)


# --- Expiry -------------------------------------------------------------------------------------------------------

def expire_tags(now: datetime) -> int:
    """Delete every tag whose expiry is at or before `now` (registry_api.services.tags.expire_tags) and log
    each deletion as Wharf's own, in its batch's transaction; returns how many."""
    return registry_tags.expire_tags(now, on_batch=_audit_expired)


def _audit_expired(batch: list[registry_tags.ExpiredTag]) -> None:
    for tag in batch:
        audit.record("tag_delete", SYSTEM, repository=tag.repository, target=tag.name, digest=tag.digest,
                     reason="expired")


# --- The manifest page ------------------------------------------------------------------------------------------

def manifest_detail(repository: Repository, digest: str) -> ManifestDetail:
    """Everything the manifest page shows: layers with their build commands, labels, platforms, referrers."""
    _check_digest(digest, "digest")
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
    if manifest is None:
        raise NotFound(f"There is no manifest {digest} in {repository.full_name}.", "digest")
    document = content.read_object(bytes(manifest.content))
    image = image_config(document)
    tags = list(Tag.objects.live().filter(manifest=manifest).order_by("name").values_list("name", flat=True)
                [:MAX_DETAIL_TAGS])
    platforms = _platforms_of(repository, {manifest.pk}).get(manifest.pk, []) \
        if manifest.media_type in content.INDEXES else []
    return ManifestDetail(
        manifest.digest, manifest.media_type, manifest.artifact_type, manifest.size, manifest.image_size,
        manifest.created_at, tags, content.layers(document, image), content.config_digest(document),
        content.labels(image), content.strings(manifest.annotations), platforms,
        referrers(repository, digest, None), str(image.get("os", "")), str(image.get("architecture", "")))
