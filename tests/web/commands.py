"""The client commands a page shows, read from its HTML as a person copies them (the text of each <code> and
<pre>, entities decoded, one command a line): shared by the page tests and the live copy-and-run test."""

from __future__ import annotations

import shlex
from html.parser import HTMLParser

TOOLS = ("podman", "skopeo", "buildah", "docker")
# Sub-commands that talk to the registry. `podman build` and `podman images` work locally, so the TLS flag
# does not belong on them.
REGISTRY_VERBS = {"login", "logout", "push", "pull", "search", "inspect", "copy", "list-tags", "delete"}


class _Commands(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "pre"):
            if self.depth == 0:
                self.texts.append("")
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre") and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.texts[-1] += data


def shown_commands(html: str) -> list[str]:
    """Every line of a <code>/<pre> that starts with a client's name, exactly as shown."""
    parser = _Commands()
    parser.feed(html)
    lines = [line.strip() for text in parser.texts for line in text.splitlines()]
    return [line for line in lines if line.split(" ", 1)[0] in TOOLS]


def reaches_registry(command: str) -> bool:
    """podman/skopeo/buildah commands that talk to the registry (docker has no TLS flag to check)."""
    argv = shlex.split(command)
    return argv[0] in ("podman", "skopeo", "buildah") and len(argv) > 1 and argv[1] in REGISTRY_VERBS
