"""WHARF_LOG_FORMAT=json: one JSON object a line, with the request's method, path and status where a record knows
them, and no secret from the URL. tests/ops/test_live_metrics.py reads a live server's whole log as JSON lines."""

from __future__ import annotations

import json
import logging
import sys

from django.test import RequestFactory

from portal.logs import JsonFormatter


def formatted(record: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return dict(json.loads(line))


def test_a_plain_record_has_time_level_logger_and_message() -> None:
    record = logging.LogRecord("portal.broker", logging.WARNING, __file__, 1, "moved aside %s", ("x.msg",), None)

    entry = formatted(record)

    assert entry["level"] == "WARNING" and entry["logger"] == "portal.broker"
    assert entry["message"] == "moved aside x.msg"
    assert str(entry["time"]).endswith("+00:00")


def test_a_django_request_record_names_the_request_without_its_query_or_reset_token() -> None:
    request = RequestFactory().get("/password-reset/MQ/c4k-0123456789abcdef/?next=/secret")
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), None)
    record.request, record.status_code = request, 500

    entry = formatted(record)

    assert entry["method"] == "GET" and entry["status"] == 500
    assert entry["path"] == "/password-reset/MQ/<token>/"


def test_an_exception_goes_into_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    entry = formatted(record)

    assert "ValueError: boom" in str(entry["exception"])


def test_gunicorns_access_record_gives_method_path_status_and_duration() -> None:
    atoms = {"m": "GET", "U": "/v2/alice/app/manifests/v1", "q": "token=abc", "s": "200", "M": "3",
             "r": "GET /v2/alice/app/manifests/v1?token=abc HTTP/1.1", "h": "127.0.0.1"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (), None)
    record.args = atoms

    entry = formatted(record)

    assert entry["method"] == "GET" and entry["status"] == 200 and entry["duration_ms"] == 3
    assert entry["path"] == "/v2/alice/app/manifests/v1"
    assert "abc" not in json.dumps(entry)
