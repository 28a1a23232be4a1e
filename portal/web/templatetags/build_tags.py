"""Template filters of the build pages: a commit message's first line, durations in words."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


@register.filter
def seconds(value: float | None) -> str:
    """83.4 → "1 min 23 s"; under a minute "4.2 s"; hours as "2 h 05 min"."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
