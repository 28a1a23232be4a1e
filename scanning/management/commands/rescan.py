"""`manage.py rescan --all | --repository NS/NAME | DIGEST…`: queue scans again (layers with a cached failure are
read again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry_api import queries
from registry_api.models import Manifest
from scanning import receivers, services


class Command(BaseCommand):
    help = "Queue manifests to be scanned again: every one, one repository's, or the ones named by digest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("digests", nargs="*", help="manifest digests (in any repository)")
        parser.add_argument("--all", action="store_true", help="every manifest")
        parser.add_argument("--repository", help="namespace/name: every manifest of this repository")

    def handle(self, *args: Any, **options: Any) -> None:
        manifests = Manifest.objects.all()
        if options["repository"]:
            repository = queries.repository(options["repository"])
            if repository is None:
                raise CommandError(f"no repository {options['repository']}")
            manifests = manifests.filter(repository_id=repository.id)
        if options["digests"]:
            manifests = manifests.filter(digest__in=options["digests"])
        elif options["all"] or options["repository"]:
            manifests = manifests.filter(parents__isnull=True)
        else:
            raise CommandError("name digests, --repository NS/NAME or --all")
        queued = sent = 0
        # Platforms listed by an index are left to it (request_rescan queues them, its scan scans them).
        for manifest_id in manifests.values_list("pk", flat=True).iterator():
            if services.request_rescan(manifest_id):
                queued += 1
                sent += receivers.send(manifest_id)
        self.stdout.write(f"{queued} manifests queued, {sent} sent to the scans queue")
