"""Who turns a manifest into packages and findings: the built-in indexer and matcher (scanning.index and
scanning.match, against the OSV store) or an external scanner (scanning.clair), chosen by WHARF_SCAN_BACKEND.

The seam is the one step of a scan that differs between them. services.scan keeps everything around it:
claiming the summary, the transaction that replaces the image's rows, the counts, the SBOM, indexes. A backend
indexes outside any transaction (it reads layers or waits for a server); its `match` runs inside the scan's
transaction, given the package rows once saved (findings point at them by id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from registry_api.models import Manifest
from scanning import index, match
from scanning.inventory import Inventory
from scanning.match import Hit
from scanning.models import ImagePackage

Matcher = Callable[[Sequence[ImagePackage]], dict[tuple[int, str], Hit]]


class ScanFailed(Exception):
    """The backend could not scan this image (a scanner that is down, an answer we cannot read): the
    summary says `failed` with the reason, and a re-scan tries again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Indexed:
    packages: list[ImagePackage]     # unsaved rows of the image's inventory
    match: Matcher                   # (package id, merge key) → finding, given `packages` saved, in order
    inventory: Inventory | None = None   # what the SBOM is made of; None when the backend gives no inventory


class Backend(Protocol):
    def index(self, manifest: Manifest) -> Indexed:
        """The image's packages and how to match them. Raises index.Unsupported (no image: the summary says
        unsupported), scanning.layers.LayerError or ScanFailed (the summary says failed)."""


class Builtin:
    """Layers read from storage (each digest once, cached), matched against the imported OSV advisories."""

    def index(self, manifest: Manifest) -> Indexed:
        inventory = index.inventory_of(manifest, index.limits())
        return Indexed(index.package_rows(manifest.pk, inventory), match.match, inventory)


def configured() -> Backend:
    """The backend WHARF_SCAN_BACKEND names ("builtin" or "clair")."""
    if settings.WHARF_SCAN_BACKEND == "clair":
        # By name: scanning.clair implements this module's seam and imports it.
        clair: type[Backend] = import_string("scanning.clair.ClairBackend")
        return clair(settings.WHARF_CLAIR_URL, settings.WHARF_CLAIR_PSK)   # type: ignore[call-arg]
    return Builtin()


def matches_locally() -> bool:
    """Whether stored packages can be matched again after an import (the built-in matcher's store); an
    external scanner keeps its own advisories, and a re-scan asks it again."""
    return settings.WHARF_SCAN_BACKEND != "clair"
