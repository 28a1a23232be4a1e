"""The forms of the notification pages: shape only; notifications.services checks the rules (the URL guard,
the filter keys for the event, the e-mail address) and its messages are shown next to the fields."""

from __future__ import annotations

from typing import Any

from django import forms

from notifications import events
from notifications.models import Method

EVENT_CHOICES = [(event, event) for event in events.EVENTS]
METHOD_CHOICES = [(Method.WEBHOOK, "webhook (signed POST)"), (Method.EMAIL, "e-mail"),
                  (Method.SLACK, "Slack (incoming webhook)"), (Method.INAPP, "in-app inbox")]
SEVERITY_CHOICES = [("", "any")] + [(s, s) for s in events.SEVERITIES]
FILTER_FIELDS = ("tag_glob", "tag_regex", "trigger_id", "branch_regex", "min_severity")


class NotificationFilterForm(forms.Form):
    """The filter fields; each applies to some events only (the help says which); blank ones filter nothing."""

    title = forms.CharField(required=False, max_length=200, help_text="A name for it on this page (optional).")
    tag_glob = forms.CharField(required=False, max_length=300, label="Tag pattern",
                               help_text="repo_push, tag_expiring: only tags like v* or release-?.*")
    tag_regex = forms.CharField(required=False, max_length=300, label="Tag regular expression",
                                help_text="repo_push, tag_expiring: only tags matching it in full.")
    trigger_id = forms.IntegerField(required=False, min_value=1, label="Build trigger id",
                                    help_text="build_*: only builds of this trigger.")
    branch_regex = forms.CharField(required=False, max_length=300, label="Branch regular expression",
                                   help_text="build_*: only builds of branches matching it in full.")
    min_severity = forms.ChoiceField(required=False, choices=SEVERITY_CHOICES, label="Minimum severity",
                                     help_text="vulnerability_found: only advisories this severe or worse.")

    def filter(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {key: data[key] for key in FILTER_FIELDS if data.get(key) not in (None, "")}


class NotificationForm(NotificationFilterForm):
    event = forms.ChoiceField(choices=EVENT_CHOICES)
    method = forms.ChoiceField(choices=METHOD_CHOICES)
    target = forms.CharField(required=False, max_length=2000, label="URL or e-mail address",
                             help_text="webhook and Slack: the URL to POST to; e-mail: the address (it gets a "
                                       "confirmation link first).")
    target_user = forms.CharField(required=False, max_length=150, label="In-app: user",
                                  help_text="in-app: the user whose inbox gets it ...")
    target_team = forms.CharField(required=False, max_length=255, label="In-app: team",
                                  help_text="... or the team (of the repository's organization) whose members do.")

    field_order = ["event", "method", "target", "target_user", "target_team", "title", *FILTER_FIELDS]


class NotificationEditForm(NotificationFilterForm):
    target = forms.CharField(required=False, max_length=2000, label="URL or e-mail address",
                             help_text="webhook and Slack: the URL; e-mail: the address (confirmed again when "
                                       "it changes). Not used by in-app notifications.")

    field_order = ["target", "title", *FILTER_FIELDS]
