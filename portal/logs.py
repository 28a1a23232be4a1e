"""WHARF_LOG_FORMAT=json: every log line one JSON object, for log shippers that index fields.

Fields: time (UTC, ISO 8601), level, logger, message, and where the record knows them the request's method,
path and status (Django's request logs carry the request; gunicorn's access log its atoms), and the exception's
traceback. Secrets stay out: the path is logged without its query string, and a password-reset link's token is
replaced by its name. Used by Django's LOGGING (portal/settings.py), gunicorn's loggers (portal/gunicorn.conf.py)
and Celery's (portal/celery.py). Kernel layer: it imports no app.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# Paths that carry a secret in a segment: /password-reset/<uidb64>/<token>/ (Django's reset link).
SECRET_PATHS = (re.compile(r"^(/password-reset/[^/]+/)(?!set-password/)[^/]+"), r"\1<token>")


def safe_path(path: str) -> str:
    path = path.split("?", 1)[0]
    pattern, replacement = SECRET_PATHS
    return pattern.sub(replacement, path)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        entry.update(_request_fields(record))
        if record.name == "gunicorn.access":
            entry["message"] = f"{entry.get('method', '')} {entry.get('path', '')} {entry.get('status', '')}".strip()
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def _request_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    request = getattr(record, "request", None)
    if request is not None and hasattr(request, "method"):
        fields["method"] = request.method
        fields["path"] = safe_path(getattr(request, "path", ""))
    if isinstance(status := getattr(record, "status_code", None), int):
        fields["status"] = status
    atoms = record.args if record.name == "gunicorn.access" and isinstance(record.args, dict) else None
    if atoms:
        # gunicorn's access atoms: m method, U path (no query), s status, M duration in ms, h remote address.
        fields["method"] = atoms.get("m")
        fields["path"] = safe_path(str(atoms.get("U", "")))
        if str(atoms.get("s", "")).isdigit():
            fields["status"] = int(atoms["s"])
        if str(atoms.get("M", "")).isdigit():
            fields["duration_ms"] = int(atoms["M"])
    return fields
