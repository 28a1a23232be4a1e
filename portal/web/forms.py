"""The pages' forms: they check shape (required, lengths, matching passwords); the services check the rules.

Roles, kinds and names are plain text fields here on purpose: the services parse them and their messages
("Unknown role: use one of read, write, admin.") are the ones shown next to the field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms

from portal.access import SCOPES
from portal.accounts.models import TeamRole
from portal.repositories.models import RepositoryRole, Visibility

REPOSITORY_ROLES = [(role.label, role.label) for role in RepositoryRole]
TEAM_ROLES = [(role.label, role.label) for role in TeamRole]
GRANTEE_KINDS = [("users", "user"), ("teams", "team"), ("robots", "robot")]
VISIBILITIES = [(Visibility.PRIVATE.value, "private"), (Visibility.PUBLIC.value, "public")]


def _choice(choices: list[tuple[str, str]], initial: str = "") -> forms.CharField:
    return forms.CharField(widget=forms.Select(choices=choices), initial=initial or choices[0][0])


class SignupForm(forms.Form):
    username = forms.CharField(max_length=64, help_text="Lower-case letters, digits and . _ - separators; "
                               "it is also your namespace.", widget=forms.TextInput(attrs={"autofocus": True}))
    email = forms.EmailField()
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)
    invite = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True,
                                                                          "autocomplete": "username"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class EmailForm(forms.Form):
    email = forms.EmailField(label="E-mail")


class PasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email: str) -> Any:
        """At most one account: Django's form mails every active account whose address matches in any case.
        The database holds each address once; should two ever match (data from before that rule), only the
        earliest-joined gets a link, the account that keeps the address when duplicates are resolved."""
        users = sorted(super().get_users(email), key=lambda user: (user.date_joined, user.pk))
        return users[:1]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'laptop podman' or 'CI'.")
    scopes = forms.MultipleChoiceField(choices=[(scope, f"{scope}: {text}") for scope, text in SCOPES.items()],
                                       widget=forms.CheckboxSelectMultiple, required=False)
    expires_on = forms.DateField(required=False, label="Expires on",
                                 help_text="Optional; the token works through the end of this day (UTC).",
                                 widget=forms.DateInput(attrs={"type": "date"}))

    def expires_at(self) -> datetime | None:
        day: date | None = self.cleaned_data.get("expires_on")
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) if day else None


class RobotForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Lower-case letters, digits and . _ - separators, e.g. "
                           "'ci' or 'deploy-bot'.")
    description = forms.CharField(max_length=255, required=False)


class NameForm(forms.Form):
    """An organization's name."""

    name = forms.CharField(max_length=64, help_text="Lower-case letters, digits and . _ - separators.")


class TeamForm(forms.Form):
    name = forms.CharField(max_length=64)
    role = _choice(TEAM_ROLES)
    description = forms.CharField(max_length=255, required=False)


class TeamRoleForm(forms.Form):
    role = _choice(TEAM_ROLES)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)


class GrantForm(forms.Form):
    """A role for a user, team or robot: a repository permission or an organization default permission."""

    kind = _choice(GRANTEE_KINDS)
    who = forms.CharField(max_length=150, label="Name", help_text="A username, a team name or a robot (ns+name).")
    role = _choice(REPOSITORY_ROLES)


class RevokeGrantForm(forms.Form):
    kind = forms.CharField()
    who = forms.CharField()


# How a new repository gets its first image. The build starts lead, once it is created, to the GitHub trigger
# picker or to the builds tab's upload form.
STARTS = [("empty", "Empty: push an image to it"),
          ("github", "Linked to a GitHub repository: build on every push"),
          ("dockerfile", "From an uploaded Dockerfile: build it once")]


class RepositoryForm(forms.Form):
    namespace = forms.ChoiceField(choices=[])
    name = forms.CharField(max_length=255, help_text="Lower-case letters, digits and . _ - / separators.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text="Markdown: **bold**, `code`, [links](https://example.com), lists.")
    visibility = forms.ChoiceField(choices=VISIBILITIES, initial=Visibility.PRIVATE.value,
                                   widget=forms.RadioSelect)
    start = forms.ChoiceField(choices=STARTS, initial="empty", required=False, widget=forms.RadioSelect,
                              label="How to start")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].choices = [(name, name) for name in namespaces]  # type: ignore[attr-defined]

    def clean_start(self) -> str:
        return self.cleaned_data.get("start") or "empty"


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(choices=VISIBILITIES, widget=forms.RadioSelect)


class DescriptionForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ConfirmForm(forms.Form):
    """Deleting something big: the person types its full name."""

    confirm = forms.CharField(label="Type the full name to confirm")

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise forms.ValidationError(f"Type '{self.expected}' to confirm.")
        return value


# --- Tags ---------------------------------------------------------------------------------------------------------
# Tag names and digests are checked by portal.repositories.tags, whose messages the page shows; the forms
# only bound their length.

class TagFilterForm(forms.Form):
    filter = forms.CharField(required=False, max_length=128, label="Filter tags",
                             widget=forms.TextInput(attrs={"placeholder": "part of a tag name", "type": "search"}))


class TagForm(forms.Form):
    """Delete: the tag's name."""

    tag = forms.CharField(max_length=1000)


class RetagForm(forms.Form):
    """Add a tag (or move one) to the manifest that the row's tag points at."""

    tag = forms.CharField(max_length=1000, widget=forms.HiddenInput)
    digest = forms.CharField(max_length=300, widget=forms.HiddenInput)
    name = forms.CharField(max_length=1000, label="New tag")


class ExpiryForm(forms.Form):
    tag = forms.CharField(max_length=1000, widget=forms.HiddenInput)
    expires_at = forms.DateTimeField(
        label="Expires (UTC)", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        error_messages={"required": "Pick a date and time, or use Clear to keep the tag."},
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))


class RestoreForm(forms.Form):
    tag = forms.CharField(max_length=1000)
    digest = forms.CharField(max_length=300)


class AdvisoryImportForm(forms.Form):
    """An OSV source for the superuser's import: an uploaded file or an http(s) URL, exactly one."""

    file = forms.FileField(required=False, label="File", help_text="An OSV JSON file (one record or a list) or "
                                                                   "an osv.dev ecosystem zip.")
    url = forms.URLField(required=False, label="or URL", assume_scheme="https", max_length=1000,
                         help_text="e.g. https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("file")) == bool(data.get("url")):
            raise forms.ValidationError("Upload a file or give a URL (one of the two).")
        return data
