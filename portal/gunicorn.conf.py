"""gunicorn settings for `make run` and the tests' live servers; every value can be overridden by env."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "portal.gunicorn_worker.PlainHTTPWorker"
workers = int(os.environ.get("WEB_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 8))
# Large blobs stream for a long time; the worker heartbeat runs on its own thread, so this only bounds
# a stuck worker.
timeout = int(os.environ.get("WEB_TIMEOUT", 300))
keepalive = 30
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

