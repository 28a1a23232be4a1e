"""Repository descriptions: Markdown rendered to HTML, then sanitized, so a description can never run script.

Markdown passes raw HTML through, so the sanitizer (nh3, an allow-list) is what makes the result safe; it
keeps ordinary formatting, drops scripts, styles, event handlers and `javascript:` links, and marks links
`rel="noopener noreferrer"`.
"""

from __future__ import annotations

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

EXTENSIONS = ["fenced_code", "tables", "sane_lists"]
URL_SCHEMES = {"http", "https", "mailto"}


def render(text: str) -> SafeString:
    """The description as sanitized HTML, safe to put in a page as it is."""
    if not text.strip():
        return mark_safe("")
    html = markdown_lib.markdown(text, extensions=EXTENSIONS, output_format="html")
    return mark_safe(nh3.clean(html, url_schemes=URL_SCHEMES))   # safe: nh3 kept only allow-listed markup
