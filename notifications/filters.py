"""A notification's filter: checked when it is saved (`validate`) and read against each event's payload
(`matches`), so what a receiver is sent is exactly what the filter says of the JSON it gets."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from notifications import events
from portal.errors import Invalid

KEYS = {
    events.REPO_PUSH: {"tag_glob", "tag_regex"},
    events.TAG_EXPIRING: {"tag_glob", "tag_regex"},
    events.VULNERABILITY_FOUND: {"min_severity"},
    **{event: {"trigger_id", "branch_regex"} for event in events.BUILD_EVENTS},
}


def validate(event: str, value: Any) -> dict[str, Any]:
    """The filter as stored; Invalid (field "filter") for an unknown key or a bad value."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise Invalid("A filter is an object, e.g. {\"tag_glob\": \"v*\"}.", "filter")
    unknown = set(value) - KEYS.get(event, set())
    if unknown:
        allowed = ", ".join(sorted(KEYS.get(event, set()))) or "none"
        raise Invalid(f"Unknown filter {sorted(unknown)[0]!r} for {event}; allowed: {allowed}.", "filter")
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if item in (None, ""):
            continue
        if key in ("tag_regex", "branch_regex"):
            if not isinstance(item, str) or len(item) > 300:
                raise Invalid(f"{key} is a regular expression of at most 300 characters.", "filter")
            try:
                re.compile(item)
            except re.error as exc:
                raise Invalid(f"{key} is not a regular expression: {exc}.", "filter") from None
        elif key == "tag_glob" and (not isinstance(item, str) or len(item) > 300):
            raise Invalid("tag_glob is a pattern such as v* or release-?.*", "filter")
        elif key == "min_severity" and item not in events.SEVERITIES:
            raise Invalid(f"min_severity is one of {', '.join(events.SEVERITIES)}.", "filter")
        elif key == "trigger_id" and (not isinstance(item, int) or isinstance(item, bool)):
            raise Invalid("trigger_id is a build trigger's id.", "filter")
        cleaned[key] = item
    return cleaned


def matches(rule: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether an event's payload passes a (validated) filter; every key given must hold."""
    event = payload["event"]
    if event in (events.REPO_PUSH, events.TAG_EXPIRING):
        names = payload["push"]["tags"] if event == events.REPO_PUSH else [payload["tag"]["name"]]
        if "tag_glob" in rule and not any(fnmatch.fnmatchcase(n, rule["tag_glob"]) for n in names):
            return False
        if "tag_regex" in rule and not any(re.fullmatch(rule["tag_regex"], n) for n in names):
            return False
    elif event in events.BUILD_EVENTS:
        build = payload["build"]
        if "trigger_id" in rule and build["trigger_id"] != rule["trigger_id"]:
            return False
        if "branch_regex" in rule and not re.fullmatch(rule["branch_regex"], build["branch"] or ""):
            return False
    elif event == events.VULNERABILITY_FOUND and "min_severity" in rule:
        found = payload["vulnerability"]["severity"]
        return events.SEVERITIES.index(found) >= events.SEVERITIES.index(rule["min_severity"])
    return True
