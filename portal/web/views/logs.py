"""The usage-log pages' shared part (an organization's log, a repository's): readable action names, a filter by
kind and date range (a GET form; `?kind=push,pull` works as on the API), and one name per actor and target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

from portal import audit
from portal.audit.models import LogEntry
from portal.web.views.common import LOG_PAGE_SIZE

GRANTEES = ("user", "team", "robot")   # permission targets are "<kind>:<name>"


class LogFilterForm(forms.Form):
    kind = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the date fields cannot be class attributes.
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(required=False, label=label,
                                                widget=forms.DateInput(attrs={"type": "date"}))

    def clean_kind(self) -> list[str]:
        wanted = [kind.strip() for kind in self.cleaned_data["kind"].split(",") if kind.strip()]
        unknown = sorted(set(wanted) - set(audit.KINDS))
        if unknown:
            raise forms.ValidationError(f"Unknown action {', '.join(unknown)}.")
        return wanted

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("from") and data.get("to") and data["from"] > data["to"]:
            self.add_error("to", "The end is before the start.")
        return data


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filtered(entries: QuerySet[LogEntry], form: LogFilterForm) -> QuerySet[LogEntry]:
    """The entries the (valid) form asks for; both dates are whole UTC days, the end day included."""
    data = form.cleaned_data
    if data.get("kind"):
        entries = entries.filter(kind__in=data["kind"])
    if data.get("from"):
        entries = entries.filter(created_at__gte=_midnight(data["from"]))
    if data.get("to"):
        entries = entries.filter(created_at__lt=_midnight(data["to"] + timedelta(days=1)))
    return entries


@dataclass(frozen=True)
class LogRow:
    created_at: datetime
    kind: str
    action: str          # "Pushed", "Deleted robot" …
    actor: str           # a username or a robot's `ns+name`; "" for anonymous
    via_token: bool
    target: str          # "" when it would only repeat the actor (a robot using its own token)
    repository: str
    client_ip: str


def target_of(entry: LogEntry) -> str:
    """The target, each robot named once as `ns+name` (permission entries said "robot:ci" or "robot:acme+ci",
    as typed) and not repeated when it is the actor itself."""
    if entry.target and entry.target == entry.actor:
        return ""
    kind, colon, who = entry.target.partition(":")
    if not colon or kind not in GRANTEES:
        return entry.target
    if kind == "robot" and "+" not in who and entry.namespace is not None:
        who = f"{entry.namespace.name}+{who}"
    return f"{kind} {who}"


def row(entry: LogEntry) -> LogRow:
    return LogRow(entry.created_at, entry.kind, audit.KIND_LABELS.get(entry.kind, entry.kind), entry.actor,
                  entry.actor_kind == "token", target_of(entry), entry.repository_name, entry.client_ip or "")


def log_context(request: HttpRequest, entries: QuerySet[LogEntry]) -> tuple[dict[str, Any], int]:
    """The context of a log page and its status (400 when the filter is bad: the page then shows everything)."""
    form = LogFilterForm(request.GET)
    valid = form.is_valid()
    if valid:
        entries = filtered(entries, form)
    log_page = Paginator(entries.select_related("namespace").order_by("-created_at", "-id"),
                         LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode([(key, value) for key, value in request.GET.items() if key != "page" and value])
    kind = request.GET.get("kind", "")
    return {"page": log_page, "rows": [row(entry) for entry in log_page], "filter_form": form, "kind": kind,
            "kinds": audit.KIND_LABELS.items(), "query": query, "filtered": bool(query)}, 200 if valid else 400
