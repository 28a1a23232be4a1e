"""The builds queue's tasks: a build (on the `builds` queue) and the reaper of builds whose worker died."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from builds import podman, runner, services
from builds.models import Build, BuildStatus
from portal.db import write_transaction

log = logging.getLogger(__name__)


# The hard limit is past the build's own (enforced by builds.podman, which stops podman at the deadline and
# reports "timed out"): it only catches a worker stuck outside podman.
@shared_task(acks_late=True, ignore_result=True, time_limit=settings.WHARF_BUILD_TIME_LIMIT + 900)
def run_build(build_id: int) -> None:
    """Run build `build_id` if it is still queued; a redelivered message of a build whose worker died takes it
    back to the queue (or fails it past its attempts) and runs it."""
    _cleanup_here()
    build = Build.objects.filter(pk=build_id).first()
    if build is None:
        return
    if build.status in (BuildStatus.RUNNING, BuildStatus.PUSHING) and runner.reap(build) != BuildStatus.QUEUED:
        return
    runner.run(build_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=180)
def reap_builds() -> dict[str, int]:
    """Every 30 s (beat): builds whose heartbeat went silent go back to the queue (and are sent again) or fail;
    queued builds whose message was lost are sent again; leftovers of dead builds on this host are removed."""
    stale = timezone.now() - timedelta(seconds=settings.WHARF_BUILD_HEARTBEAT_TIMEOUT)
    requeued = failed = resent = 0
    for build in Build.objects.filter(status__in=[BuildStatus.RUNNING, BuildStatus.PUSHING], heartbeat_at__lt=stale):
        outcome = runner.reap(build)
        if outcome == BuildStatus.QUEUED:
            requeued += services.send(build)
        elif outcome == BuildStatus.FAILED:
            failed += 1
    # A queued build nobody took within the heartbeat timeout after it was last touched: its message may be
    # lost (a broker restarted without persistence); a second message is harmless (the claim is atomic).
    lost = timezone.now() - timedelta(seconds=max(600, settings.WHARF_BUILD_HEARTBEAT_TIMEOUT * 10))
    # heartbeat_at of a queued build is when it was last sent this way, so each is sent again at most that often.
    for build in Build.objects.filter(Q(heartbeat_at__lt=lost) | Q(heartbeat_at__isnull=True),
                                      status=BuildStatus.QUEUED, created_at__lt=lost)[:100]:
        with write_transaction():
            Build.objects.filter(pk=build.pk, status=BuildStatus.QUEUED).update(heartbeat_at=timezone.now())
        resent += services.send(build)
    _cleanup_here()
    return {"requeued": requeued, "failed": failed, "resent": resent}


def _cleanup_here() -> None:
    try:
        podman.cleanup_orphans(runner.active_ids())
    except Exception:   # noqa: BLE001 (housekeeping must not stop a build)
        log.exception("cleaning up after dead builds failed")


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    _cleanup_here()
