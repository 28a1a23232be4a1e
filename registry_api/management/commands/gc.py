"""`manage.py gc [--dry-run] [--grace SECONDS]`: collect garbage once, online, and print what went."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from registry_api.services import gc


class Command(BaseCommand):
    help = ("Remove manifests, blob links, blobs and storage objects that nothing references any more "
            "(older than WHARF_GC_GRACE_SECONDS); safe while the registry serves pushes.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would go, remove nothing")
        parser.add_argument("--grace", type=int, default=None,
                            help="seconds instead of WHARF_GC_GRACE_SECONDS (0: everything unreferenced now)")

    def handle(self, *args: Any, **options: Any) -> None:
        run = gc.run(dry_run=options["dry_run"], grace_seconds=options["grace"])
        verb = "would remove" if run.dry_run else "removed"
        self.stdout.write(
            f"{verb}: {run.manifests_removed} manifests, {run.links_removed} blob links, {run.blobs_removed} blobs, "
            f"{run.objects_removed} storage objects without rows; {_size(run.bytes_freed)} "
            f"({run.bytes_freed} bytes) in {run.duration_seconds or 0:.2f} s (run {run.pk})")


def _size(n: int) -> str:
    value, units = float(n), ["B", "KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"
