"""`manage.py import_osv FILE|DIR|URL`: load OSV advisories into the store and re-match the images they concern."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scanning import osv, store


class Command(BaseCommand):
    help = ("Import OSV advisories (a JSON file, a directory of them, an osv.dev ecosystem zip, or an http(s) "
            "URL of one), then match the stored images they concern again (no layer is read).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="a .json or .zip file, a directory, or an http(s) URL")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        progress = _Progress(self.stdout, started) if self.stdout.isatty() else None
        try:
            run = store.import_source(options["source"], progress=progress)
        except osv.SourceError as exc:
            raise CommandError(str(exc)) from None
        if progress is not None:
            progress.done()
        seconds = time.monotonic() - started
        ecosystems = ", ".join(f"{name} {count}" for name, count in sorted(run.ecosystems.items()))
        self.stdout.write(
            f"{run.records} records read in {seconds:.1f} s: {run.upserted} new or updated, {run.removed} withdrawn "
            f"removed, {run.errors} malformed skipped; {run.rematched} images matched again (import {run.pk})")
        if ecosystems:
            self.stdout.write(f"ecosystems: {ecosystems}")


class _Progress:
    """One line, rewritten in place: records read so far and the rate."""

    def __init__(self, out: Any, started: float) -> None:
        self.out, self.started = out, started

    def __call__(self, count: int) -> None:
        rate = count / max(time.monotonic() - self.started, 1e-6)
        self.out.write(f"\r{count} records read, {rate:,.0f}/s", ending="")
        self.out.flush()

    def done(self) -> None:
        self.out.write("")
