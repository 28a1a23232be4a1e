"""From a stored image manifest to its packages: which layers to read, each layer's index (from the cache
or read once from storage), and the composed inventory as ImagePackage rows in their OSV ecosystems."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from registry_api import content, storage
from registry_api.models import Manifest
from scanning import layers as layer_indexer
from scanning.inventory import Inventory, compose
from scanning.layers import LayerError, LayerIndex
from scanning.limits import Limits
from scanning.models import ImagePackage, LayerIndexCache
from scanning.versions import base_ecosystem, ecosystem_for

log = logging.getLogger(__name__)

LANGUAGE_ECOSYSTEMS = {"python": "PyPI", "npm": "npm"}


class Unsupported(Exception):
    """A manifest that is no image this scanner reads (an artifact, an image without layers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LayerRef:
    digest: str
    media_type: str


def limits() -> Limits:
    """The indexer's bounds, from the WHARF_SCAN_* settings."""
    return Limits(max_layer_size=settings.WHARF_SCAN_MAX_LAYER_SIZE, max_entries=settings.WHARF_SCAN_MAX_ENTRIES,
                  max_file_size=settings.WHARF_SCAN_MAX_FILE_SIZE)


def image_layers(manifest: Manifest) -> list[LayerRef]:
    """The layers to index, bottom to top; Unsupported for anything that is not a container image."""
    document = content.read_object(bytes(manifest.content))
    if manifest.media_type not in content.IMAGE_MANIFESTS:
        raise Unsupported(f"media type {manifest.media_type} is not an image manifest")
    if document.get("artifactType"):
        raise Unsupported(f"an artifact of type {document['artifactType']}, not an image")
    config = document.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in content.IMAGE_CONFIGS:
        raise Unsupported(f"config media type {config_type or 'none'} is not an image config")
    refs = [LayerRef(str(layer.get("digest", "")), str(layer.get("mediaType", "")))
            for layer in document.get("layers") or [] if isinstance(layer, dict)]
    # Foreign layers (Windows base layers) live elsewhere; the registry holds none of their bytes.
    refs = [ref for ref in refs if ref.media_type not in content.NON_DISTRIBUTABLE]
    if not refs:
        raise Unsupported("an image without layers")
    return refs


def layer_indexes(refs: list[LayerRef], bounds: Limits) -> list[tuple[str, LayerIndex]]:
    """Each layer's index, from the cache (one query for all) or read from storage and cached; LayerError
    for a layer that failed now or before (the cached failure is not read again until a re-scan clears it)."""
    cached = {row.digest: row for row in LayerIndexCache.objects.filter(digest__in={ref.digest for ref in refs})}
    result = []
    for ref in refs:
        row = cached.get(ref.digest)
        if row is not None and row.status == LayerIndexCache.Status.OK and not _current(row):
            row.delete()     # written by an older indexer (another INDEX_FORMAT): read the layer again
            row = None
        if row is None:
            row = _index_and_cache(ref, bounds)
            cached[ref.digest] = row
        if row.status == LayerIndexCache.Status.FAILED:
            raise LayerError(f"layer {ref.digest}: {row.error}")
        assert row.index is not None
        result.append((ref.digest, LayerIndex.from_json(row.index)))
    return result


def _current(row: LayerIndexCache) -> bool:
    return isinstance(row.index, dict) and row.index.get("format") == layer_indexer.INDEX_FORMAT


def _index_and_cache(ref: LayerRef, bounds: Limits) -> LayerIndexCache:
    try:
        with storage.backend().open(storage.blob_key(ref.digest)) as stream:
            index = layer_indexer.index_layer(stream, ref.media_type, bounds)
        row = LayerIndexCache(digest=ref.digest, status=LayerIndexCache.Status.OK, index=index.to_json())
    except LayerError as exc:
        log.warning("layer %s cannot be indexed: %s", ref.digest, exc.reason)
        row = LayerIndexCache(digest=ref.digest, status=LayerIndexCache.Status.FAILED, error=exc.reason)
    except FileNotFoundError:
        # Not cached: the blob may come back (a re-push), and a missing blob says nothing of its bytes.
        raise LayerError(f"layer {ref.digest} is not in storage") from None
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:   # another worker indexed the same layer meanwhile: its row is as good
        return LayerIndexCache.objects.get(digest=ref.digest)
    return row


def forget_failed_layers(manifest: Manifest) -> int:
    """Clear the cached failures of a manifest's layers, so a re-scan reads them again."""
    try:
        digests = {ref.digest for ref in image_layers(manifest)}
    except Unsupported:
        return 0
    deleted, _ = LayerIndexCache.objects.filter(digest__in=digests, status=LayerIndexCache.Status.FAILED).delete()
    return deleted


def inventory_of(manifest: Manifest, bounds: Limits) -> Inventory:
    """The image's packages with whiteouts applied; Unsupported or LayerError as above."""
    return compose(layer_indexes(image_layers(manifest), bounds))


def package_rows(manifest_id: int, inventory: Inventory) -> list[ImagePackage]:
    """Unsaved ImagePackage rows; OS packages take the ecosystem of the image's os-release."""
    release = inventory.os_release
    os_ecosystem = ecosystem_for(release.get("ID", ""), release.get("VERSION_ID", "")) or ""
    rows = []
    for package in inventory.packages:
        ecosystem = os_ecosystem if package.is_os_package else LANGUAGE_ECOSYSTEMS.get(package.kind, "")
        rows.append(ImagePackage(
            manifest_id=manifest_id, kind=package.kind, ecosystem=ecosystem,
            base_ecosystem=base_ecosystem(ecosystem) if ecosystem else "",
            name=package.name[:255], version=package.version[:255],
            source_name=(package.source_name or package.name)[:255],
            source_version=(package.source_version or package.version)[:255],
            layer_digest=package.layer, path=package.path[:1024]))
    return rows
