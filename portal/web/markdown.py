"""Repository descriptions: Markdown rendered to HTML, then sanitized, so a description can never run script.

Markdown passes raw HTML through, so the sanitizer (nh3, an allow-list) is what makes the result safe; it
keeps ordinary formatting, drops scripts, styles, event handlers and `javascript:` links, and marks links
`rel="noopener noreferrer"`.
"""

from __future__ import annotations

import html
import re

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


FENCE = re.compile(r"^\s*(```|~~~)")
MAX_LINES_LOOKED_AT = 50


def first_line(text: str) -> str:
    """The description's first line of text, without Markdown or HTML: what a list of repositories shows.

    Line by line, so that a list of 50 repositories never renders 50 whole descriptions: blank lines, code
    blocks and lines of markup only (an HTML banner, an image, a rule) are skipped.
    """
    in_fence = False
    for line in text.splitlines()[:MAX_LINES_LOOKED_AT]:
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or not line.strip():
            continue
        plain = _plain(line.strip())
        if plain and set(plain) - set("-=*_#>|: "):   # not a rule, a heading underline or a table border
            return plain
    return ""


def _plain(line: str) -> str:
    rendered = markdown_lib.markdown(line, output_format="html")
    # An empty allow-list keeps the text and drops every tag (and what is inside <script> and <style>).
    text = html.unescape(nh3.clean(rendered, tags=set()))
    return " ".join(text.split())
