"""Periodic repository housekeeping that the audit log must see (the registry's own jobs: registry_api/tasks.py)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from portal.repositories import tags


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, ignore_result=True)
def expire_tags() -> int:
    """Delete tags whose expiry has passed (recorded in their history, so they can be restored, and in the
    audit log as Wharf's own); a second run at once finds nothing left to claim."""
    return tags.expire_tags(timezone.now())
