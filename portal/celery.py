"""The Celery app: settings under the CELERY_ namespace, tasks discovered in every installed app."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("wharf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# WHARF_LOG_FORMAT=json: the worker and beat log through Django's LOGGING (JSON lines, portal/logs.py) instead
# of Celery's own format. Only then: a receiver of setup_logging stops Celery from configuring logging at all.
if os.environ.get("WHARF_LOG_FORMAT", "").strip().lower() == "json":

    @signals.setup_logging.connect
    def _json_logs(**kwargs: object) -> None:
        import logging.config

        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)


@signals.worker_process_shutdown.connect
def _flush_audit(**_: object) -> None:
    """A pool process ends with os._exit, which skips atexit: write the audit entries it batched first."""
    from notifications import later
    from portal import audit

    audit.flush()
    later.flush()
