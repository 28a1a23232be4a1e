"""Tag templates: the tags a trigger's build pushes, from the ref and commit that started it."""

from __future__ import annotations

import re
from datetime import datetime

from portal.errors import Invalid

PLACEHOLDERS = ("{branch}", "{tag}", "{sha}", "{sha7}", "{date}")
LATEST = "latest"   # a template of its own: the tag `latest`, pushed only for the default branch
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_PLACEHOLDER_RE = re.compile(r"\{[^{}]*\}")


def validate(templates: list[str]) -> list[str]:
    """The templates cleaned up; Invalid names the first that can never make a tag."""
    cleaned = []
    for template in templates:
        template = str(template).strip()
        if not template:
            continue
        for placeholder in _PLACEHOLDER_RE.findall(template):
            if placeholder not in PLACEHOLDERS:
                raise Invalid(f"Unknown placeholder {placeholder} in tag template '{template}'; use "
                              + ", ".join(PLACEHOLDERS) + " or 'latest'.", "tag_templates")
        sample = _PLACEHOLDER_RE.sub("x", template)
        if not TAG_RE.fullmatch(sample):
            raise Invalid(f"Tag template '{template}' cannot make a valid tag.", "tag_templates")
        cleaned.append(template)
    if len(cleaned) > 20:
        raise Invalid("At most 20 tag templates.", "tag_templates")
    return cleaned


def split_ref(ref: str) -> tuple[str, str]:
    """("branch", name) for refs/heads/..., ("tag", name) for refs/tags/..., ("", ref) otherwise."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return kind, ref[len(prefix):]
    return "", ref


def sanitize(value: str) -> str:
    """A branch or tag name as a tag: characters a tag cannot hold become '-'."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", value).lstrip(".-") or "x"
    return value[:128]


def render(templates: list[str], *, ref: str, sha: str, default_branch: str, now: datetime) -> list[str]:
    """The tags, in template order without repeats. A template naming {branch} on a tag push (or {tag} on a
    branch push) makes no tag; so does {sha} without a commit."""
    kind, name = split_ref(ref)
    values = {"{branch}": sanitize(name) if kind == "branch" else None,
              "{tag}": sanitize(name) if kind == "tag" else None,
              "{sha}": sha or None, "{sha7}": sha[:7] or None, "{date}": now.strftime("%Y%m%d")}
    tags: list[str] = []
    for template in templates:
        if template == LATEST:
            if kind == "branch" and name == default_branch:
                tags.append(LATEST)
            continue
        tag = template
        for placeholder in _PLACEHOLDER_RE.findall(template):
            value = values.get(placeholder)
            if value is None:
                tag = ""
                break
            tag = tag.replace(placeholder, value)
        if tag and TAG_RE.fullmatch(tag[:128]) and tag[:128] not in tags:
            tags.append(tag[:128])
    return tags
