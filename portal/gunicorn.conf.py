"""gunicorn settings for `make run` and the tests' live servers; every value can be overridden by env."""

import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "portal.gunicorn_worker.PlainHTTPWorker"
workers = int(os.environ.get("WEB_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 8))
# Large blobs stream for a long time; the worker heartbeat runs on its own thread, so this only bounds
# a stuck worker.
timeout = int(os.environ.get("WEB_TIMEOUT", 300))
keepalive = 30
# Connections a worker holds; the ones still sending their request wait in its selector loop, not in a
# thread (portal/gunicorn_worker.py), so thousands cost a few KiB each. At the cap the oldest of those is
# closed to let a new client in. gunicorn's default (1000) stopped accepting at 2,000 idle connections
# over 2 workers: new clients waited in the backlog until their own timeout.
worker_connections = int(os.environ.get("WEB_CONNECTIONS", 10000))
# Connections waiting to be accepted (the kernel caps it at net.core.somaxconn, 4096 on Linux >= 5.4): a
# burst of 2,000 connects fits.
backlog = int(os.environ.get("WEB_BACKLOG", 4096))
max_requests = 0
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Proxies in front of Wharf are trusted only when configured; the registry builds its URLs from Host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn would take X-Forwarded-Proto from any local peer; Django decides instead, trusting it only behind
# WHARF_TRUSTED_PROXIES (settings.SECURE_PROXY_SSL_HEADER).
secure_scheme_headers: dict[str, str] = {}
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s'


def _open_files_for(connections: int) -> int:
    """Every connection is a descriptor: a worker needs one per connection and some for files and the
    database. A common soft limit of 1024 would fail accept() (EMFILE) far below 10,000 connections; the
    hard limit is what the administrator allows, so the soft one is raised up to it (workers inherit it
    from the master, which reads this file). Returns the connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return connections if soft == resource.RLIM_INFINITY else max(64, min(connections, soft - 1024))


worker_connections = _open_files_for(worker_connections)


# --- Metrics: prometheus-client's multiprocess mode -------------------------------------------------------
# Each worker keeps its counters in files under PROMETHEUS_MULTIPROC_DIR and /metrics sums them (portal/scrape.py).
# The folder must be empty when the server starts (values of an earlier run would be added in): an operator's
# folder is emptied, else a fresh one is made (and removed at exit). Set in on_starting, before any worker is
# forked and imports prometheus-client, which reads the variable at import.
_made_metrics_dir: str | None = None


def on_starting(server):  # type: ignore[no-untyped-def]
    global _made_metrics_dir
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        _made_metrics_dir = tempfile.mkdtemp(prefix="wharf-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_dir


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # A dead worker's live gauges leave the sums; its counters stay counted (they are totals).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


# --- WHARF_LOG_FORMAT=json: gunicorn's own lines (errors, the access log) as JSON objects too -------------
if os.environ.get("WHARF_LOG_FORMAT", "").strip().lower() == "json":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # portal.logs, before the app is loaded
    _access_handler = ({"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
                       if accesslog == "-" else {"class": "logging.FileHandler", "formatter": "json",
                                                 "filename": accesslog or os.devnull})
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
                     "access": _access_handler},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["console"], "propagate": False},
            # A logconfig turns gunicorn's access log on: it stays off unless WEB_ACCESS_LOG asks for it.
            "gunicorn.access": {"level": "INFO" if accesslog else "CRITICAL",
                                "handlers": ["access"] if accesslog else [], "propagate": False},
        },
    }


def worker_exit(server: object, worker: object) -> None:
    """A worker stopping gracefully (SIGTERM to gunicorn, a restart, max_requests) writes the pull entries of
    the audit log it still holds (portal/audit): they are batched per process. This runs in the worker, after
    its last request; SIGKILL gives no such chance."""
    from notifications import later
    from portal import audit

    audit.flush()
    later.flush()   # events this worker's requests handed over, not yet sent to the broker
