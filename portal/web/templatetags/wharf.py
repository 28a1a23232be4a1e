"""Template filters the repository pages share: sizes in binary units, short digests, description lines."""

from __future__ import annotations

from django import template

from portal.web import markdown

register = template.Library()

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


@register.filter
def human_size(value: int | None) -> str:
    """12345678 → "11.8 MiB"; bytes below 1 KiB stay exact ("512 B")."""
    size = float(value or 0)
    if size < 1024:
        return f"{int(size)} B"
    for unit in UNITS:
        size /= 1024
        if size < 1024 or unit == UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


@register.filter
def short_digest(digest: str | None) -> str:
    """sha256:0123456789abcdef… → "sha256:0123456789ab" (12 hex digits, as podman shows image ids)."""
    if not digest or ":" not in digest:
        return digest or ""
    algorithm, encoded = digest.split(":", 1)
    return f"{algorithm}:{encoded[:12]}"


@register.filter
def platform_name(platform: object) -> str:
    """os/architecture[/variant] of a PlatformRow, or "unknown platform" for a child without one."""
    parts = [getattr(platform, "os", ""), getattr(platform, "architecture", ""), getattr(platform, "variant", "")]
    name = "/".join(part for part in parts if part)
    return name or "unknown platform"


@register.filter
def description_line(text: str | None) -> str:
    """A Markdown description's first line as plain text ("**Fast** `cli`" → "Fast cli"), for lists."""
    return markdown.first_line(text or "")
