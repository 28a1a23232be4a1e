"""How deeply a JSON document nests, measured before it is parsed.

Python's json module recurses once per `[` or `{`: 100,000 of them exhaust the interpreter's recursion limit
(a RecursionError, a 500). No manifest or API body needs more than a few levels, so a body that nests deeper
than MAX_DEPTH is refused before json.loads sees it. The check runs at C speed (a regular expression, then
bytes.replace), never recursing: 4 MiB of `[` is refused in a few milliseconds, an ordinary manifest is
measured in microseconds, and no body of 4 MiB takes more than limit + 1 passes of ~20 ms.
"""

from __future__ import annotations

import re

MAX_DEPTH = 32

# A string, escapes included, up to its closing quote or the end of the body (an unterminated string is the
# parser's error to report; matching it to the end keeps the scan linear).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_FOLD = bytes.maketrans(b"{}", b"[]")    # objects and arrays nest alike
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class TooDeep(ValueError):
    """The document nests arrays and objects deeper than allowed (or opens more than it could ever close)."""


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise TooDeep if parsing `data` would nest deeper than `limit` arrays and objects."""
    brackets = _STRING.sub(b"", data).translate(_FOLD, _NOT_BRACKETS)
    if b"[" * (limit + 1) in brackets:   # the usual attack, found without peeling
        raise TooDeep(f"JSON nests deeper than {limit} levels")
    # Each pass removes the innermost pairs, one level (replace does not rescan what it produced).
    for level in range(limit + 1):
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):
            # Nothing pairs up any more: what is left (if anything) does not balance, which the parser will
            # report, unless it would recurse too deep on its way there.
            if level + brackets.count(b"[") > limit:
                raise TooDeep(f"JSON nests deeper than {limit} levels")
            return
        brackets = peeled
    raise TooDeep(f"JSON nests deeper than {limit} levels")
