"""What a Dockerfile may not ask of a build worker, checked before podman runs it.

- `RUN --mount`: with a bind (or cache) mount whose source is a link in another stage, buildah before 1.35.1
  mounts the worker's own root filesystem into the step (CVE-2024-1753; Debian 12's podman 4.3 / buildah 1.28 is
  affected: a test here read the host's /etc through it). Wharf's builds take their files from the context.
- `RUN --network` and `RUN --security`: a step would choose its own network or privileges over the trigger's.
- `ADD <url>` (http, https, git) while the build has no network: podman itself downloads it, outside the RUN
  steps' namespace, so it would reach whatever the worker reaches (cloud metadata, internal services).

Instructions are read as the builder reads them: case-insensitive, with line continuations (the escape character
from a `# escape=` directive) and comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_REMOTE = re.compile(r"^(https?://|git@|git://|ssh://)", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    line: int        # where it starts, from 1
    keyword: str     # upper case
    arguments: str


def instructions(text: str) -> list[Instruction]:
    escape = "\\"
    lines = text.splitlines()
    found: list[Instruction] = []
    in_directives = True
    current: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if in_directives:
            directive = _DIRECTIVE.match(stripped)
            if directive:
                if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
                    escape = directive.group(2)
                continue
            in_directives = False
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue   # a comment inside a continued instruction is dropped, as the builder does
        if not current:
            start = number
        if stripped.endswith(escape):
            current.append(stripped[:-1])
            continue
        current.append(stripped)
        joined = " ".join(" ".join(current).split())
        current = []
        keyword, _, arguments = joined.partition(" ")
        found.append(Instruction(start, keyword.upper(), arguments.strip()))
    if current:
        joined = " ".join(" ".join(current).split())
        keyword, _, arguments = joined.partition(" ")
        found.append(Instruction(start, keyword.upper(), arguments.strip()))
    return found


def _flags(arguments: str) -> list[str]:
    flags = []
    for word in arguments.split():
        if not word.startswith("--"):
            break
        flags.append(word)
    return flags


def problems(text: str, *, network: bool) -> list[str]:
    """What this Dockerfile asks that a build may not do, one message per instruction (empty: fine)."""
    found = []
    for instruction in instructions(text):
        flags = _flags(instruction.arguments)
        if instruction.keyword == "RUN":
            for flag in flags:
                name = flag.split("=", 1)[0].lower()
                if name == "--mount":
                    found.append(f"line {instruction.line}: RUN --mount is refused: builds take their files from "
                                 "the context (a mount can reach the worker's own files, CVE-2024-1753)")
                elif name in ("--network", "--security"):
                    found.append(f"line {instruction.line}: RUN {name} is refused: the trigger decides the build's "
                                 "network and a step runs unprivileged")
        elif instruction.keyword == "ADD" and not network:
            sources = [word for word in instruction.arguments.split() if not word.startswith("--")][:-1]
            if any(_REMOTE.match(source.strip("\"'[],")) for source in sources):
                found.append(f"line {instruction.line}: ADD of a URL needs the network, which this build does not "
                             "have (allow it on the trigger, or download it into the context)")
    return found
