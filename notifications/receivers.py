"""The signals of the registry, builds and scanning → events → Delivery rows (delivery.fan_out).

The signals are sent after their change has committed, in the request or task that made it: a receiver asks
whether the repository has notifications at all (an answer cached per process: notifications.later) and, when
it has, hands the event to a worker as one message (the repository's name is its one query); the worker writes
the deliveries and sends them. A receiver never fails its sender: errors are logged."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from notifications import events, later

log = logging.getLogger(__name__)


def _fan_out(make: Any, repository_id: int) -> None:
    try:
        full_name = later.notified_name(repository_id)   # cached: a repository's pushes cost no query
        if full_name is not None:
            later.send(make(full_name), repository_id)
    except Exception:   # noqa: BLE001 (the change has committed; its request must not turn into an error)
        log.exception("could not record the notifications of an event in repository %s", repository_id)


def manifest_pushed(sender: Any, manifest: Any, tag: str | None = None, pusher: str = "", user_agent: str = "",
                    **kwargs: Any) -> None:
    """repo_push for a push by tag (the manifests an index's push sends by digest first are not pushes of a
    tag)."""
    if tag is None:
        return
    _fan_out(lambda full_name: events.RepoPush(
        repository=full_name, occurred_at=timezone.now(), tags=[tag], digest=manifest.digest,
        media_type=manifest.media_type, pusher=pusher, client=user_agent), manifest.repository_id)


def build_event(sender: Any, build: Any, event: str, **kwargs: Any) -> None:
    _fan_out(lambda full_name: events.BuildEvent(
        repository=full_name, occurred_at=timezone.now(), event=event, build_id=build.pk, status=build.status,
        trigger_id=build.trigger_id, ref=build.ref, commit_sha=build.commit_sha, tags=list(build.tags),
        started_by=build.started_by_name, error=build.error, queued_at=build.created_at,
        started_at=build.started_at, finished_at=build.finished_at), build.repository_id)


def vulnerability_found(sender: Any, finding: Any, manifest_id: int, repository_id: int, advisory: str,
                        merge_key: str, package: str, version: str, severity: Any, fixed_version: str = "",
                        **kwargs: Any) -> None:
    digest = getattr(getattr(finding, "manifest", None), "digest", "")
    _fan_out(lambda full_name: events.VulnerabilityFound(
        repository=full_name, occurred_at=timezone.now(), advisory=advisory, merge_key=merge_key or "",
        package=package, version=version, severity=severity.name.lower(), fixed_version=fixed_version or "",
        digest=digest), repository_id)
