"""Manifests, tags and referrers: what a repository's references point at, and every move of a tag."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from portal.names import is_digest, is_supported_digest, is_valid_tag
from registry_api import content, queries, signals, storage
from registry_api.errors import DigestInvalid, ManifestBlobUnknown, ManifestInvalid, ManifestTooLarge, ManifestUnknown
from registry_api.models import Manifest, Tag, TagEvent
from registry_api.queries import ManifestRow, Repository


def put_manifest(repository: Repository, reference: str, body: bytes, content_type: str,
                 actor_id: int | None = None, pusher: str = "", user_agent: str = "") -> ManifestRow:
    """Store a manifest under its digest and, for a tag reference, point the tag at it.

    Everything it references must already be in this repository (MANIFEST_BLOB_UNKNOWN otherwise).
    `pusher` (a user's or robot's name) and `user_agent` (the client's) only travel with the signal.
    """
    if len(body) > settings.WHARF_MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest is larger than {settings.WHARF_MAX_MANIFEST_BYTES} bytes")
    tag = None
    if is_digest(reference):
        if not is_supported_digest(reference):
            raise DigestInvalid(f"{reference!r} is not a valid sha256 or sha512 digest")
        digest = content.compute_digest(body, reference.split(":", 1)[0])
        if digest != reference:
            raise DigestInvalid("manifest digest does not match the reference", detail={"digest": reference})
    elif is_valid_tag(reference):
        tag, digest = reference, content.compute_digest(body)
    else:
        raise ManifestInvalid(f"invalid tag {reference!r}")
    parsed = content.parse_manifest(body, content_type, _policy())
    with queries.write_transaction():
        # Read inside the transaction: a concurrent delete of the manifest or a move of the tag must not
        # slip between these reads and the writes (SQLite's IMMEDIATE transactions and PostgreSQL's
        # row lock on the tag serialise them).
        manifest_id = queries.manifest_id(repository, digest)
        blob_ids, children = ({}, {}) if manifest_id is not None else _references(repository, parsed)
        if manifest_id is None:
            _check_nesting({id_ for id_, media_type in children.values() if media_type in content.INDEXES})
            fields = {"media_type": parsed.media_type, "artifact_type": parsed.artifact_type,
                      "subject_digest": parsed.subject, "annotations": parsed.annotations, "content": body,
                      "image_size": parsed.image_size}
            manifest_id = queries.add_manifest(repository, digest, fields, list(blob_ids.values()),
                                               [id_ for id_, _ in children.values()])
        if tag is not None:
            point_tag(repository, tag, manifest_id, digest, actor_id)
        manifest = ManifestRow(manifest_id, int(repository.pk), digest, parsed.media_type, len(body), parsed.subject,
                               body, parsed.artifact_type, parsed.annotations, parsed.image_size)
        transaction.on_commit(lambda: signals.manifest_pushed.send(Manifest, manifest=manifest, tag=tag,
                                                                   pusher=pusher, user_agent=user_agent))
    return manifest


def _references(repository: Repository, parsed: content.ParsedManifest,
                ) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    """The ids of the blobs and the (id, media type) of the child manifests a new manifest references;
    MANIFEST_BLOB_UNKNOWN if the repository lacks any (a blob pushed only to another repository does not count)."""
    blob_ids = queries.linked_blob_ids(repository, set(parsed.blobs))
    children = queries.manifest_refs(repository, set(parsed.manifests))
    missing = (set(parsed.blobs) - blob_ids.keys()) | (set(parsed.manifests) - children.keys())
    if missing:
        raise ManifestBlobUnknown(detail={"digest": sorted(missing)[0]})
    return blob_ids, children


def _policy() -> content.Policy:
    return content.Policy(settings.WHARF_MAX_INDEX_ENTRIES, _pattern(settings.WHARF_FOREIGN_URLS_ALLOW))


@functools.lru_cache(maxsize=4)
def _pattern(source: str) -> re.Pattern[str] | None:
    try:
        return re.compile(source) if source else None
    except re.error as exc:
        raise ImproperlyConfigured(f"WHARF_FOREIGN_URLS_ALLOW is not a regular expression: {exc}") from None


def _check_nesting(index_children: set[int]) -> None:
    """Refuse an index whose indexes nest deeper than WHARF_MAX_INDEX_DEPTH levels (itself included): a client
    resolving a platform walks every level, one request each. `index_children` are the new manifest's
    children that are indexes themselves (_references read their media types), so an image or an index of
    images costs nothing here; then one query per further level. Children exist before their parents
    (content addressing), so there is no cycle to guard against."""
    limit, depth, level = settings.WHARF_MAX_INDEX_DEPTH, 1, index_children
    while level:
        depth += 1
        if depth > limit:
            raise ManifestInvalid(f"indexes nest deeper than {limit} levels")
        level = set(Manifest.children.through.objects.filter(
            from_manifest_id__in=level, to_manifest__media_type__in=content.INDEXES,
        ).values_list("to_manifest_id", flat=True))


def point_tag(repository: Repository, name: str, manifest_id: int, digest: str, actor_id: int | None) -> None:
    """Point the tag at the manifest (inside the caller's write transaction) and record the move.

    A live tag keeps its expiry, and the history records it with the move so that a restore can put it back.
    A tag whose expiry has passed is already gone for readers: its deletion goes into the history first (as
    the expiry job would have written it), and the tag is pushed anew, without the spent expiry.
    """
    previous = queries.tag_state(repository, name)
    if previous is not None and previous.expired:
        record_tag_event(repository, name, TagEvent.Kind.DELETED, "", previous.digest, None, previous.expires_at)
        previous = None
    elif previous is not None and previous.digest == digest:
        return
    queries.set_tag(repository, name, manifest_id)   # an upsert: a concurrent first push cannot fail it
    if previous is None:
        record_tag_event(repository, name, TagEvent.Kind.PUSHED, digest, "", actor_id)
    else:
        record_tag_event(repository, name, TagEvent.Kind.MOVED, digest, previous.digest, actor_id,
                         previous.expires_at)


def record_tag_event(repository: Repository, tag: str, kind: str, digest: str, previous: str,
                     actor_id: int | None, previous_expires_at: datetime | None = None) -> None:
    """One line of the tag history, and the tag_changed signal once the transaction commits.

    `previous_expires_at` is the tag's expiry as the event moved it off `previous` or deleted it.
    """
    queries.record_tag_event(repository, tag, kind, digest, previous, actor_id, previous_expires_at)
    transaction.on_commit(lambda: signals.tag_changed.send(
        Tag, repository=repository, tag=tag, digest=digest, previous=previous))


MAX_CONFIG_BYTES = 4 * 1024 * 1024


def image_config(document: dict[str, Any]) -> dict[str, Any]:
    """The image config that a stored image manifest names, read from storage; {} when the manifest names
    none, or the blob is missing, larger than MAX_CONFIG_BYTES or no JSON object (content.read_object)."""
    digest = content.image_config_digest(document)
    if not digest:
        return {}
    try:
        with storage.backend().open(storage.blob_key(digest)) as blob:
            body = blob.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return {}
    return content.read_object(body) if len(body) <= MAX_CONFIG_BYTES else {}


def get_manifest(repository: Repository, reference: str) -> ManifestRow:
    manifest = queries.manifest(repository, reference, by_digest=is_digest(reference))
    if manifest is None:
        raise ManifestUnknown(detail={"reference": reference})
    return manifest


def delete_manifest(repository: Repository, reference: str, actor_id: int | None = None) -> None:
    """By digest: the manifest and every tag on it. By tag: only the tag."""
    with transaction.atomic():
        if is_digest(reference):
            manifest = (Manifest.objects.select_for_update().filter(repository_id=repository.pk, digest=reference)
                        .first())
            if manifest is None:
                raise ManifestUnknown(detail={"reference": reference})
            for tag_name, expires_at in manifest.tags.values_list("name", "expires_at"):
                record_tag_event(repository, tag_name, TagEvent.Kind.DELETED, "", reference, actor_id, expires_at)
            manifest.delete()
            transaction.on_commit(lambda: signals.manifest_deleted.send(
                Manifest, repository=repository, digest=reference))
        else:
            tag = Tag.objects.live().select_for_update().filter(repository_id=repository.pk, name=reference)
            row = tag.values_list("manifest__digest", "expires_at").first()
            if row is None:
                raise ManifestUnknown(detail={"reference": reference})
            tag.delete()
            record_tag_event(repository, reference, TagEvent.Kind.DELETED, "", row[0], actor_id, row[1])


def list_tags(repository: Repository, n: int | None, last: str | None) -> tuple[list[str], bool]:
    """Tag names in lexical (byte) order after `last`; returns (page, whether more follow)."""
    names = Tag.objects.live().filter(repository_id=repository.pk).order_by("name").values_list("name", flat=True)
    if last:
        names = names.filter(name__gt=last)
    if n is None:
        return list(names), False
    page = list(names[: n + 1])
    return page[:n], len(page) > n


def referrers(repository: Repository, digest: str, artifact_type: str | None) -> list[dict[str, Any]]:
    """Descriptors of the manifests in the repository whose `subject` is `digest`."""
    manifests = Manifest.objects.filter(repository_id=repository.pk, subject_digest=digest).order_by("created_at", "id")
    if artifact_type:
        manifests = manifests.filter(artifact_type=artifact_type)
    rows = manifests.values_list("media_type", "digest", "size", "artifact_type", "annotations")
    return [content.descriptor_of(*row) for row in rows]
