"""The scan column's wording: a summary's nonzero counts, worst first, and the worst severity's name."""

from __future__ import annotations

from django import template

from scanning.summaries import Summary

register = template.Library()

ORDER = ("critical", "high", "medium", "low", "negligible", "unknown")


@register.filter
def scan_counts(scan: Summary) -> list[str]:
    """["1 high", "2 unknown"]: the nonzero counts, from the worst severity down."""
    return [f"{getattr(scan, name)} {name}" for name in ORDER if getattr(scan, name)]


@register.filter
def worst_severity(scan: Summary) -> str:
    """The name of the worst severity with a finding ("" for none)."""
    return next((name for name in ORDER if getattr(scan, name)), "")
