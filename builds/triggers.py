"""Triggers' life: created by a repository admin (for GitHub, with the hook and, for a private repository, the
read-only deploy key that Wharf makes there), changed, and deleted (taking the hook and key with it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from builds import github, secrets, templates
from builds.models import Trigger, TriggerKind
from builds.services import validate_build_args, validate_path, validate_platforms
from portal import audit
from portal.access import Principal
from portal.accounts.models import User
from portal.db import write_transaction
from portal.errors import Invalid
from portal.repositories.models import Repository

DEFAULT_TEMPLATES = ["{branch}", "{sha7}", "latest"]
_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+")


@dataclass(frozen=True)
class Created:
    trigger: Trigger
    secret: str          # the webhook secret, shown once (a GitHub trigger's is already on GitHub)
    webhook_url: str


def webhook_url(trigger: Trigger) -> str:
    return f"{settings.WHARF_SITE_URL}/webhooks/git/{trigger.pk}/"


def validate_clone_url(url: Any) -> str:
    """https:// or ssh (ssh://… or user@host:path); file:// only where WHARF_BUILD_ALLOW_FILE_URLS (tests).
    Credentials never go in the URL: they would show in logs and pages."""
    url = str(url or "").strip()
    if not url or len(url) > 500 or any(c in url for c in "\x00\n\r \t"):
        raise Invalid("Give the repository's clone URL (https://… or git@host:owner/name.git).", "clone_url")
    if _SCP_LIKE.fullmatch(url):
        return url
    parts = urlsplit(url)
    allowed = {"https", "ssh"} | ({"file"} if settings.WHARF_BUILD_ALLOW_FILE_URLS else set())
    if parts.scheme not in allowed or (parts.scheme != "file" and not parts.hostname):
        raise Invalid("The clone URL must start with https:// or ssh:// (or be git@host:owner/name.git).",
                      "clone_url")
    if parts.password or (parts.username and parts.scheme == "https"):
        raise Invalid("Leave credentials out of the clone URL; add a deploy key instead.", "clone_url")
    return url


def validate_filter(value: Any) -> str:
    value = str(value or "").strip()
    if len(value) > 300:
        raise Invalid("The branch and tag filter is at most 300 characters.", "ref_filter")
    try:
        re.compile(value)
    except re.error as exc:
        raise Invalid(f"The branch and tag filter is not a regular expression: {exc}.", "ref_filter") from None
    return value


def _settings(data: dict[str, Any], trigger: Trigger | None = None) -> dict[str, Any]:
    """The trigger's build settings from a form or JSON body; missing keys keep their current values."""
    out: dict[str, Any] = {}
    if "dockerfile_path" in data or trigger is None:
        out["dockerfile_path"] = validate_path(data.get("dockerfile_path"), "dockerfile_path", "Dockerfile")
    if "context_dir" in data or trigger is None:
        out["context_dir"] = validate_path(data.get("context_dir"), "context_dir", "")
    if "ref_filter" in data:
        out["ref_filter"] = validate_filter(data["ref_filter"])
    if "default_branch" in data:
        branch = str(data["default_branch"] or "").strip()
        if not branch or len(branch) > 200:
            raise Invalid("Name the default branch (e.g. main).", "default_branch")
        out["default_branch"] = branch
    if "tag_templates" in data or trigger is None:
        raw = data.get("tag_templates", DEFAULT_TEMPLATES)
        if isinstance(raw, str):
            raw = [t for t in re.split(r"[,\s]+", raw) if t]
        if not isinstance(raw, list):
            raise Invalid("Tag templates are a list.", "tag_templates")
        out["tag_templates"] = templates.validate(raw) or DEFAULT_TEMPLATES
    if "build_args" in data:
        out["build_args"] = validate_build_args(data["build_args"], trigger.build_args if trigger else None)
    if "platforms" in data:
        out["platforms"] = validate_platforms(data["platforms"])
    if "network" in data:
        out["network"] = _boolean(data["network"])
    if "enabled" in data:
        out["enabled"] = _boolean(data["enabled"])
        if out["enabled"]:
            out["disabled_reason"], out["consecutive_failures"] = "", 0
    return out


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "on", "yes")


def create_trigger(repository: Repository, principal: Principal, data: dict[str, Any],
                   client_ip: str | None = None) -> Created:
    """A trigger of kind data["kind"] (github: data["github_repository"] = owner/name; git:
    data["clone_url"] and data["deploy_key"] (bool) for a generated read-only key)."""
    kind = data.get("kind")
    if kind not in TriggerKind.values:
        raise Invalid("A trigger is either 'github' or 'git'.", "kind")
    fields = _settings(data)
    user = User.objects.get(pk=principal.user_id) if principal.is_person else None
    if user is None:
        raise Invalid("Only a person can create a trigger: its builds push in their name.")
    secret = secrets.new_webhook_secret()
    trigger = Trigger(repository=repository, kind=kind, secret_encrypted=secrets.encrypt(secret),
                      created_by=user, **fields)
    if kind == TriggerKind.GITHUB:
        full_name = str(data.get("github_repository") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", full_name):
            raise Invalid("Pick a GitHub repository (owner/name).", "github_repository")
        try:
            source = github.repository(user, full_name)
        except github.GithubError as exc:
            raise Invalid(str(exc), "github_repository") from None
        trigger.github_repository = source.full_name
        trigger.clone_url = source.ssh_url if source.private else source.clone_url
        if "default_branch" not in data:
            trigger.default_branch = source.default_branch
        if source.private:
            _new_deploy_key(trigger, repository)
    else:
        trigger.clone_url = validate_clone_url(data.get("clone_url"))
        if _boolean(data.get("deploy_key", False)):
            _new_deploy_key(trigger, repository)
    with write_transaction():
        trigger.save()
    if kind == TriggerKind.GITHUB:
        _install_on_github(trigger, user, secret)
    audit.record("trigger_create", principal, client_ip=client_ip, repository=repository,
                 target=f"trigger {trigger.pk}", source=trigger.source_name, trigger_kind=kind)
    return Created(trigger, secret, webhook_url(trigger))


def _new_deploy_key(trigger: Trigger, repository: Repository) -> None:
    public, private = secrets.new_deploy_key(f"wharf {repository.full_name}")
    trigger.deploy_key_public, trigger.deploy_key_encrypted = public, secrets.encrypt(private)


def _install_on_github(trigger: Trigger, user: User, secret: str) -> None:
    """The hook and deploy key on GitHub; a refusal there deletes the trigger again and says why."""
    try:
        hook = github.create_hook(user, trigger.github_repository, webhook_url(trigger), secret)
        key = None
        if trigger.deploy_key_public:
            key = github.add_deploy_key(user, trigger.github_repository,
                                        f"Wharf {trigger.repository.full_name}", trigger.deploy_key_public)
    except github.GithubError as exc:
        Trigger.objects.filter(pk=trigger.pk).delete()
        raise Invalid(f"GitHub refused: {exc}", "github_repository") from None
    trigger.github_hook_id, trigger.github_deploy_key_id = hook, key
    with write_transaction():
        Trigger.objects.filter(pk=trigger.pk).update(github_hook_id=hook, github_deploy_key_id=key)


def update_trigger(trigger: Trigger, principal: Principal, data: dict[str, Any],
                   client_ip: str | None = None) -> Trigger:
    fields = _settings(data, trigger)
    if "clone_url" in data and trigger.kind == TriggerKind.GIT:
        fields["clone_url"] = validate_clone_url(data["clone_url"])
    for name, value in fields.items():
        setattr(trigger, name, value)
    with write_transaction():
        trigger.save(update_fields=list(fields) or None)
    audit.record("trigger_change", principal, client_ip=client_ip, repository=trigger.repository,
                 target=f"trigger {trigger.pk}", fields=sorted(fields))
    return trigger


def new_secret(trigger: Trigger, principal: Principal, client_ip: str | None = None) -> str:
    """A new webhook secret for a git trigger (the old one stops working now), shown once."""
    if trigger.kind != TriggerKind.GIT:
        raise Invalid("A GitHub trigger's secret lives on GitHub; delete and create the trigger to renew it.")
    secret = secrets.new_webhook_secret()
    with write_transaction():
        Trigger.objects.filter(pk=trigger.pk).update(secret_encrypted=secrets.encrypt(secret))
    audit.record("trigger_change", principal, client_ip=client_ip, repository=trigger.repository,
                 target=f"trigger {trigger.pk}", fields=["secret"])
    return secret


def delete_trigger(trigger: Trigger, principal: Principal, client_ip: str | None = None) -> list[str]:
    """Delete the trigger (its builds stay, without it); a GitHub hook and key go too, as far as GitHub lets us.
    Returns warnings about what could not be removed there."""
    warnings: list[str] = []
    if trigger.kind == TriggerKind.GITHUB and trigger.created_by_id:
        owner = User.objects.filter(pk=trigger.created_by_id).first()
        for what, remove, ident in (("webhook", github.delete_hook, trigger.github_hook_id),
                                    ("deploy key", github.delete_deploy_key, trigger.github_deploy_key_id)):
            if owner is None or ident is None:
                continue
            try:
                remove(owner, trigger.github_repository, ident)
            except github.GithubError as exc:
                warnings.append(f"The {what} on GitHub could not be removed ({exc}); remove it there.")
    repository = trigger.repository
    pk = trigger.pk
    with write_transaction():
        trigger.delete()
    audit.record("trigger_delete", principal, client_ip=client_ip, repository=repository,
                 target=f"trigger {pk}")
    return warnings
