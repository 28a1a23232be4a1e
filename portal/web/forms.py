"""The pages' forms: they check shape (required, lengths, matching passwords); the services check the rules.

Roles, kinds and names are plain text fields here on purpose: the services parse them and their messages
("Unknown role: use one of read, write, admin.") are the ones shown next to the field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms

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
    name = forms.CharField(max_length=64, help_text="A lower-case letter, then letters, digits or _, e.g. 'ci'.")
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


class RepositoryForm(forms.Form):
    namespace = forms.ChoiceField(choices=[])
    name = forms.CharField(max_length=255, help_text="Lower-case letters, digits and . _ - / separators.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    visibility = forms.ChoiceField(choices=VISIBILITIES, initial=Visibility.PRIVATE.value,
                                   widget=forms.RadioSelect)

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].choices = [(name, name) for name in namespaces]  # type: ignore[attr-defined]


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
