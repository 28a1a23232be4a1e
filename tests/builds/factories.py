"""Triggers and builds made directly, for tests of pages, the API and the rules (the worker's own tests make
theirs through the real paths)."""

from __future__ import annotations

from typing import Any

from builds import secrets
from builds.logs import LogWriter, Masker
from builds.models import Build, BuildStatus, SourceKind, Trigger, TriggerKind
from portal.repositories.models import Repository

SECRET = "s3cret-for-tests-0123456789abcdef"


def make_trigger(repository: Repository, *, kind: str = TriggerKind.GIT, secret: str = SECRET,
                 **fields: Any) -> Trigger:
    fields.setdefault("clone_url", "https://git.example.com/acme/app.git")
    fields.setdefault("tag_templates", ["{branch}", "{sha7}", "latest"])
    return Trigger.objects.create(repository=repository, kind=kind, secret_encrypted=secrets.encrypt(secret),
                                  **fields)


def make_build(repository: Repository, *, status: str = BuildStatus.COMPLETE, log: list[str] | None = None,
               **fields: Any) -> Build:
    fields.setdefault("source_kind", SourceKind.DOCKERFILE)
    fields.setdefault("tags", ["latest"])
    build = Build.objects.create(repository=repository, status=status, **fields)
    if log:
        writer = LogWriter(build.pk, Masker())
        for line in log:
            writer.line(line)
        writer.flush()
        build.refresh_from_db()
    return build
