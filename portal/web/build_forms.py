"""The build and trigger pages' forms: shape only (required fields, the `NAME=value` lines of build arguments);
builds.services and builds.triggers check the rules and name the field they refuse."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

PLATFORMS = [("linux/amd64", "linux/amd64"), ("linux/arm64", "linux/arm64")]
SECRET_PREFIX = "secret:"
ARCHIVE_NAMES = (".tar", ".tar.gz", ".tgz", ".zip")
BUILD_ARGS_HELP = ("One NAME=value a line. Prefix a line with secret: to keep the value secret (masked in logs, "
                   "never shown again).")


def parse_build_args(text: str) -> list[dict[str, Any]]:
    """`NAME=value` lines (`secret:NAME=value` for a secret) as the services' [{name, value, secret}]."""
    args: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        secret = line.lower().startswith(SECRET_PREFIX)
        if secret:
            line = line[len(SECRET_PREFIX):].strip()
        name, equals, value = line.partition("=")
        if not equals:
            raise forms.ValidationError(f"Line {number} is not NAME=value.")
        args.append({"name": name.strip(), "value": value, "secret": secret})
    return args


def build_args_text(shown: list[dict[str, Any]]) -> str:
    """The lines a form shows for stored arguments; a secret's value stays empty (empty keeps it)."""
    return "\n".join(f"{SECRET_PREFIX if arg['secret'] else ''}{arg['name']}={'' if arg['secret'] else arg['value']}"
                     for arg in shown)


def without_secret_values(text: str) -> str:
    """Posted lines drawn again after an error: the secret values typed are not sent back to the browser."""
    lines = []
    for line in text.splitlines():
        if line.strip().lower().startswith(SECRET_PREFIX) and "=" in line:
            line = line.split("=", 1)[0] + "="
        lines.append(line)
    return "\n".join(lines)


def hide_secret_values(form: forms.Form) -> None:
    """Before a refused form is drawn again: its build arguments without the secret values typed into it."""
    data = QueryDict(mutable=True)
    data.update(form.data)  # type: ignore[arg-type]
    data["build_args"] = without_secret_values(str(form.data.get("build_args", "")))
    form.data = data


class BuildArgsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "VERSION=1.2\nsecret:NPM_TOKEN=…", "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Build arguments")
        kwargs.setdefault("help_text", BUILD_ARGS_HELP)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        return parse_build_args(super().to_python(value) or "")


def _platforms() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(choices=PLATFORMS, required=False, widget=forms.CheckboxSelectMultiple,
                                     help_text="None checked: the worker's own platform. Several make one "
                                               "multi-platform image.")


class UploadBuildForm(forms.Form):
    """Start a build from an uploaded Dockerfile or context archive."""

    upload = forms.FileField(label="Dockerfile or context archive",
                             help_text="A Dockerfile, or a .tar, .tar.gz, .tgz or .zip of the build context.")
    tags = forms.CharField(required=False, max_length=1000, help_text="Comma-separated; latest when empty.",
                           widget=forms.TextInput(attrs={"placeholder": "latest, v1"}))
    dockerfile_path = forms.CharField(required=False, max_length=300, label="Dockerfile path",
                                      help_text="Inside an archive; Dockerfile when empty.")
    build_args = BuildArgsField()
    platforms = _platforms()


class TriggerSettingsForm(forms.Form):
    """What a trigger builds and how it tags; shared by creating and editing."""

    dockerfile_path = forms.CharField(max_length=300, initial="Dockerfile", label="Dockerfile path")
    context_dir = forms.CharField(max_length=300, required=False, label="Context directory",
                                  help_text="Relative to the repository's root; the root when empty.")
    ref_filter = forms.CharField(max_length=300, required=False, label="Branch and tag filter",
                                 help_text="A regular expression on the ref, e.g. ^refs/heads/(main|release/.*)$; "
                                           "every push when empty.")
    default_branch = forms.CharField(max_length=200, initial="main", label="Default branch",
                                     help_text="Its pushes are also tagged latest; Start build uses its head.")
    tag_templates = forms.CharField(max_length=1000, initial="{branch}, {sha7}, latest", label="Tag templates",
                                    help_text="Comma-separated: {branch}, {tag}, {sha}, {sha7}, {date}, and latest "
                                              "(on the default branch).")
    build_args = BuildArgsField(help_text=BUILD_ARGS_HELP + " A secret left empty keeps its value.")
    platforms = _platforms()
    network = forms.BooleanField(required=False, label="Network for RUN steps",
                                 help_text="Off: RUN steps cannot reach the network.")
    enabled = forms.BooleanField(required=False, initial=True)


class GitTriggerForm(TriggerSettingsForm):
    clone_url = forms.CharField(max_length=500, label="Clone URL",
                                help_text="https://… or git@host:owner/name.git; no credentials in it.")
    deploy_key = forms.BooleanField(required=False, label="Generate a deploy key",
                                    help_text="For a private repository: add its public half to the git host as a "
                                              "read-only deploy key.")
    field_order = ["clone_url", "deploy_key"]


class GithubTriggerForm(TriggerSettingsForm):
    github_repository = forms.CharField(max_length=200, widget=forms.HiddenInput)


class StartTriggerBuildForm(forms.Form):
    commit = forms.RegexField(regex=r"^[0-9a-fA-F]{7,64}$", required=False, max_length=64,
                              help_text="A commit id; the default branch's head when empty.",
                              error_messages={"invalid": "A commit id is 7 to 64 hexadecimal digits."})
