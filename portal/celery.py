"""The Celery app: settings under the CELERY_ namespace, tasks discovered in every installed app."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("wharf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _flush_audit(**_: object) -> None:
    """A pool process ends with os._exit, which skips atexit: write the audit entries it batched first."""
    from portal import audit

    audit.flush()
