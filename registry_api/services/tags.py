"""Tags as the portal sees them: a page of tags with sizes, scans and platforms, the tag actions (delete,
retag, expiry), and the tag history ("time machine") that a deleted or moved tag is restored from.

The registry's own rules stay in manifests.py: a tag moves through `point_tag` and a deletion is recorded
through `record_tag_event`, so a push, a retag and a restore write the same history and send the same signal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portal import audit
from portal.access import Principal
from portal.db import write_transaction
from portal.errors import Invalid, NotFound
from portal.names import is_supported_digest, is_valid_tag
from portal.repositories.models import Repository
from registry_api import content, queries, storage
from registry_api.models import Manifest, Tag, TagEvent
from registry_api.services.manifests import point_tag, record_tag_event, referrers

MAX_PER_PAGE = 500
EXPIRY_BATCH = 500
PRUNE_BATCH = 10_000
MAX_DETAIL_TAGS = 100
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Who the audit log names for what Wharf does by itself (expiring tags).
SYSTEM = Principal("system", "wharf")


@dataclass
class PlatformRow:
    os: str
    architecture: str
    variant: str
    digest: str
    image_size: int


@dataclass
class ScanInfo:
    status: str
    critical: int
    high: int
    medium: int
    low: int
    unknown: int


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
class LayerRow:
    digest: str
    media_type: str
    size: int
    command: str   # the build step that made the layer, from the image config's history ("" if unknown)


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
               "updated_at", "expires_at", "manifest__scan_summary__status", "manifest__scan_summary__critical",
               "manifest__scan_summary__high", "manifest__scan_summary__medium", "manifest__scan_summary__low",
               "manifest__scan_summary__unknown")


def tag_page(repository: Repository, *, name_filter: str = "", page: int = 1, per_page: int = 50) -> TagPage:
    """One page of the repository's tags, newest first; `name_filter` is a case-insensitive substring.

    A page past the end gives the last page. Whatever the tag count, this is at most five statements: the
    expired tags the job has not deleted yet, the count, the page (with its scan summaries joined), and,
    when the page shows an index, its contents and the sizes of its children.
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
    indexes = {row[1] for row in values if row[3] in content.INDEXES}
    platforms = _platforms_of(repository, indexes)
    return [TagRow(name, digest, media_type, image_size, updated_at, expires_at,
                   ScanInfo(*scan) if scan[0] is not None else None, platforms.get(manifest_id, []))
            for name, manifest_id, digest, media_type, image_size, updated_at, expires_at, *scan in values]


def _platforms_of(repository: Repository, index_ids: set[int]) -> dict[int, list[PlatformRow]]:
    """manifest id → one row per child of that index (two statements, whatever the number of indexes)."""
    if not index_ids:
        return {}
    descriptors = {id_: _child_descriptors(bytes(body))
                   for id_, body in Manifest.objects.filter(id__in=index_ids).values_list("id", "content")}
    digests = {d.get("digest") for children in descriptors.values() for d in children}
    sizes = dict(Manifest.objects.filter(repository=repository, digest__in=digests)
                 .values_list("digest", "image_size"))
    return {id_: [_platform_row(d, sizes) for d in children] for id_, children in descriptors.items()}


def _child_descriptors(body: bytes) -> list[dict[str, Any]]:
    # The registry validated the index when it was pushed; read it leniently all the same.
    try:
        children = json.loads(body).get("manifests")
    except (ValueError, AttributeError):
        return []
    return [d for d in children if isinstance(d, dict)] if isinstance(children, list) else []


def _platform_row(descriptor: dict[str, Any], sizes: dict[str, int]) -> PlatformRow:
    platform = descriptor.get("platform")
    platform = platform if isinstance(platform, dict) else {}
    digest = str(descriptor.get("digest", ""))
    return PlatformRow(str(platform.get("os", "")), str(platform.get("architecture", "")),
                       str(platform.get("variant", "")), digest, sizes.get(digest, 0))


def tag_row(repository: Repository, name: str) -> TagRow:
    """One tag as the tags page shows it; NotFound when there is no such tag."""
    rows = _rows(repository, Tag.objects.live().filter(repository=repository, name=name))
    if not rows:
        raise NotFound(f"There is no tag '{name}' in {repository.full_name}.", "tag")
    return rows[0]


# --- Tag actions ------------------------------------------------------------------------------------------------

def _check_tag(name: str) -> None:
    if not is_valid_tag(name):
        raise Invalid(f"'{name[:200]}' is not a valid tag: use up to 128 letters, digits, '_', '.' and '-', "
                      "not starting with '.' or '-'.", "tag")


def _check_digest(digest: str) -> None:
    if not is_supported_digest(digest):
        raise Invalid(f"'{digest[:200]}' is not a valid digest (sha256:<64 hex digits> or sha512:<128>).",
                      "manifest_digest")


def delete_tag(principal: Principal, repository: Repository, name: str, client_ip: str | None = None) -> None:
    """Remove the tag (its manifest stays); the history keeps it restorable. The caller checked write."""
    _check_tag(name)
    with write_transaction():
        state = queries.tag_state(repository, name)   # locks the tag's row on PostgreSQL
        if state is None or state.expired:   # an expired tag is gone for everyone; the expiry job records it
            raise NotFound(f"There is no tag '{name}' in {repository.full_name}.", "tag")
        Tag.objects.filter(repository=repository, name=name).delete()
        record_tag_event(repository, name, TagEvent.Kind.DELETED, "", state.digest, principal.user_id,
                         state.expires_at)
        audit.record("tag_delete", principal, client_ip=client_ip, repository=repository, target=name,
                     digest=state.digest)


def retag(principal: Principal, repository: Repository, name: str, manifest_digest: str,
          client_ip: str | None = None) -> TagRow:
    """Create tag `name` on a manifest of the repository, or move it there. The caller checked write."""
    _check_tag(name)
    _check_digest(manifest_digest)
    with write_transaction():
        manifest_id = queries.manifest_id(repository, manifest_digest)
        if manifest_id is None:
            raise NotFound(f"There is no manifest {manifest_digest} in {repository.full_name}.", "manifest_digest")
        previous = _move(principal, repository, name, manifest_id, manifest_digest)
        if previous != manifest_digest:   # pointing a tag where it already points changes nothing
            audit.record("tag_create", principal, client_ip=client_ip, repository=repository, target=name,
                         digest=manifest_digest, previous=previous or "")
    return tag_row(repository, name)


def _move(principal: Principal, repository: Repository, name: str, manifest_id: int, digest: str) -> str | None:
    previous = queries.current_tag(repository, name)
    point_tag(repository, name, manifest_id, digest, principal.user_id)
    return previous


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
        if not Tag.objects.live().filter(repository=repository, name=name).update(expires_at=expires_at):
            raise NotFound(f"There is no tag '{name}' in {repository.full_name}.", "tag")
        audit.record("tag_expiry", principal, client_ip=client_ip, repository=repository, target=name,
                     expires_at=expires_at.isoformat() if expires_at else None)


# --- History and restore ----------------------------------------------------------------------------------------

def _history_cutoff() -> datetime:
    return timezone.now() - timedelta(days=settings.WHARF_TAG_HISTORY_DAYS)


def tag_history(repository: Repository, name: str | None = None, *, page: int = 1,
                per_page: int = 50) -> tuple[list[HistoryEntry], int]:
    """The moves of one tag (or of every tag) within WHARF_TAG_HISTORY_DAYS, newest first, and their total.

    A page past the end gives the last page. Five statements: the count, the page, which of the digests it
    names still exist, where its tags point now, and the expiries that its restores would bring back.
    """
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    events = TagEvent.objects.filter(repository=repository, created_at__gte=_history_cutoff())
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
    restores = _restored_expiries(repository, {(e.tag, e.restorable_digest) for e in entries if e.restorable_digest})
    for entry in entries:
        entry.restore_expires_at = restores.get((entry.tag, entry.restorable_digest))
    return entries, total


def _restored_expiries(repository: Repository, targets: set[tuple[str, str]]) -> dict[tuple[str, str], datetime | None]:
    """(tag, digest) → the expiry that restoring the tag to the digest gives it: the one the tag had when it
    last left that manifest (moved or deleted) within the retention window, or None when that expiry has
    passed by now. A tag that expired is wanted back, so it comes back without an expiry (as in Quay, whose
    restored tags start a new lifetime), rather than be refused or be deleted again within the minute.
    One statement, whatever the number of targets; the history page and restore_tag both ask it."""
    if not targets:
        return {}
    events = (TagEvent.objects.filter(repository=repository, created_at__gte=_history_cutoff(),
                                      tag__in={tag for tag, _ in targets},
                                      previous_digest__in={digest for _, digest in targets})
              .exclude(kind=TagEvent.Kind.PUSHED).order_by("created_at", "id")
              .values_list("tag", "previous_digest", "previous_expires_at"))
    now = timezone.now()
    left = {(tag, digest): expires_at for tag, digest, expires_at in events if (tag, digest) in targets}
    return {key: expires_at if expires_at is not None and expires_at > now else None
            for key, expires_at in left.items()}


def restore_tag(principal: Principal, repository: Repository, name: str, manifest_digest: str,
                client_ip: str | None = None) -> TagRow:
    """Point the tag back at a manifest it pointed at within the retention window, with the expiry it had
    when it left that manifest (none if that time has passed: see _restored_expiries). The caller checked
    write."""
    _check_tag(name)
    _check_digest(manifest_digest)
    days = settings.WHARF_TAG_HISTORY_DAYS
    was_target = TagEvent.objects.filter(repository=repository, tag=name, created_at__gte=_history_cutoff()).filter(
        Q(digest=manifest_digest) | Q(previous_digest=manifest_digest)).exists()
    if not was_target:
        raise Invalid(f"The tag '{name}' did not point at {manifest_digest} in the last {days} days, so it cannot "
                      "be restored to it; pick a digest from the tag's history.", "manifest_digest")
    with write_transaction():
        manifest_id = queries.manifest_id(repository, manifest_digest)
        if manifest_id is None:
            raise Invalid(f"The manifest {manifest_digest} has been deleted from {repository.full_name}, so "
                          f"'{name}' cannot be restored to it.", "manifest_digest")
        expires_at = _restored_expiries(repository, {(name, manifest_digest)}).get((name, manifest_digest))
        previous = _move(principal, repository, name, manifest_id, manifest_digest)
        detail: dict[str, Any] = {"digest": manifest_digest, "previous": previous or ""}
        if previous != manifest_digest:   # a tag already there keeps its expiry: nothing moved
            Tag.objects.filter(repository=repository, name=name).update(expires_at=expires_at)
            if expires_at is not None:
                detail["expires_at"] = expires_at.isoformat()
        audit.record("tag_restore", principal, client_ip=client_ip, repository=repository, target=name, **detail)
    return tag_row(repository, name)


# --- Periodic jobs ----------------------------------------------------------------------------------------------

def expire_tags(now: datetime) -> int:
    """Delete every tag whose expiry is at or before `now`, in batches; returns how many.

    Each deletion goes into the history (actor: none), so an expired tag can be restored. Two runs at once
    split the work: a batch's rows are locked and the other run skips them (PostgreSQL).
    """
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
            repositories = Repository.objects.in_bulk({row[1] for row in batch})
            for _, repository_id, name, digest, expires_at in batch:
                repository = repositories[repository_id]
                record_tag_event(repository, name, TagEvent.Kind.DELETED, "", digest, None, expires_at)
                audit.record("tag_delete", SYSTEM, repository=repository, target=name, digest=digest, reason="expired")
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




# --- The manifest page ------------------------------------------------------------------------------------------

IMAGE_CONFIGS = {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}


def manifest_detail(repository: Repository, digest: str) -> ManifestDetail:
    """Everything the manifest page shows: layers with their build commands, labels, platforms, referrers."""
    if not is_supported_digest(digest):
        raise Invalid(f"'{digest[:200]}' is not a valid digest (sha256:<64 hex digits> or sha512:<128>).", "digest")
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
    if manifest is None:
        raise NotFound(f"There is no manifest {digest} in {repository.full_name}.", "digest")
    document = _json_object(bytes(manifest.content))
    config = _dict(document.get("config"))
    image = _image_config(config) if config.get("mediaType") in IMAGE_CONFIGS else {}
    labels = _dict(image.get("config")).get("Labels")
    tags = list(Tag.objects.live().filter(manifest=manifest).order_by("name").values_list("name", flat=True)
                [:MAX_DETAIL_TAGS])
    platforms = _platforms_of(repository, {manifest.pk}).get(manifest.pk, []) \
        if manifest.media_type in content.INDEXES else []
    return ManifestDetail(
        manifest.digest, manifest.media_type, manifest.artifact_type, manifest.size, manifest.image_size,
        manifest.created_at, tags, _layers(document, image), str(config.get("digest", "")),
        _strings(labels), _strings(manifest.annotations), platforms, referrers(repository, digest, None),
        str(image.get("os", "")), str(image.get("architecture", "")))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _image_config(config: dict[str, Any]) -> dict[str, Any]:
    """The image config blob, read from storage; {} when it is missing, too large or not JSON."""
    digest = config.get("digest")
    if not isinstance(digest, str) or not is_supported_digest(digest):
        return {}
    try:
        with storage.backend().open(storage.blob_key(digest)) as blob:
            body = blob.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return {}
    return _json_object(body) if len(body) <= MAX_CONFIG_BYTES else {}


def _layers(document: dict[str, Any], image: dict[str, Any]) -> list[LayerRow]:
    """The manifest's layers, each with the history step that made it: the config's history lists every
    step, and the steps that made no layer (ENV, CMD...) are marked empty_layer, so the rest match in order."""
    history = _list(image.get("history"))
    commands = [_command(step) for step in history if isinstance(step, dict) and not step.get("empty_layer")]
    layers = _list(document.get("layers"))
    return [LayerRow(str(layer.get("digest", "")), str(layer.get("mediaType", "")), _int(layer.get("size")),
                     commands[i] if i < len(commands) else "")
            for i, layer in enumerate(d for d in layers if isinstance(d, dict))]


def _command(step: dict[str, Any]) -> str:
    # Docker writes instructions that run nothing as "/bin/sh -c #(nop)  CMD [...]"; show the instruction.
    command = str(step.get("created_by") or step.get("comment") or "")
    marker = "#(nop) "
    return command.split(marker, 1)[1].strip() if marker in command else command.strip()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
