"""Version comparators we write ourselves because no well-kept Python library does them: Alpine's apk rules,
rpm's rpmvercmp with epoch:version-release, and a natural sort as the fallback for every other ecosystem.
Each returns -1, 0 or 1 and never raises on odd input: one strange version string in an advisory must not
stop a scan. (Debian, PyPI and npm use libraries; see versions.py.)"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------------------------- apk (Alpine)
# An Alpine version is  digits{.digits}[letter]{_suffix[digits]}[-rN]  (apk's version.c grammar). It is
# compared token by token; the types are ordered so that, when one version runs out of equal tokens first, the
# one whose next token has the LOWER type is the greater version (1.0.1 > 1.0a > 1.0_p1 > 1.0-r1 > 1.0), with
# one exception: a pre-release suffix (_alpha, _beta, _pre, _rc) makes a version lower than its release.
_DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION, _END, _INVALID = range(7)
_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")          # valued -4..-1: below the release
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")       # valued 0..4: above it
_APK_DIGITS = re.compile(r"[0-9]+")


def _apk_tokens(version: str) -> list[tuple[int, int]]:
    """(type, value) tokens, ending in (_END, 0) or, where the grammar breaks, (_INVALID, offset)."""
    tokens: list[tuple[int, int]] = []
    match = _APK_DIGITS.match(version)
    if not match:
        return [(_INVALID, 0)]
    tokens.append((_DIGIT, int(match.group())))
    pos, state = match.end(), _DIGIT
    while pos < len(version):
        char = version[pos]
        if char == "." and state == _DIGIT and (m := _APK_DIGITS.match(version, pos + 1)):
            pos = _apk_dotted_digits(version, m, tokens)
        elif char.islower() and char.isascii() and state == _DIGIT:
            tokens.append((_LETTER, ord(char)))
            pos, state = pos + 1, _LETTER
            if (m := _APK_DIGITS.match(version, pos)):   # apk accepts digits straight after the letter
                tokens.append((_DIGIT, int(m.group())))
                pos, state = m.end(), _DIGIT
        elif char == "_" and state in (_DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO):
            value, length = _apk_suffix(version, pos + 1)
            if length == 0:
                return [*tokens, (_INVALID, pos)]
            tokens.append((_SUFFIX, value))
            pos, state = pos + 1 + length, _SUFFIX
            if (m := _APK_DIGITS.match(version, pos)):
                tokens.append((_SUFFIX_NO, int(m.group())))
                pos, state = m.end(), _SUFFIX_NO
        elif version.startswith("-r", pos) and state != _REVISION and (m := _APK_DIGITS.match(version, pos + 2)):
            tokens.append((_REVISION, int(m.group())))
            pos, state = m.end(), _REVISION
        else:
            return [*tokens, (_INVALID, pos)]
    return [*tokens, (_END, 0)]


def _apk_dotted_digits(version: str, match: re.Match[str], tokens: list[tuple[int, int]]) -> int:
    """A component after a dot. Leading zeros count against it (apk's rule, so 1.02 < 1.1 and 1.0 > 1.00): the
    run of z zeros is a token valued -z, and the digits after it, if any, another. (apk 2 added a 0 token when
    no digits followed the zeros, which made 6.0_pre1 > 6.0; apk-tools fixed that and added the vector.)"""
    digits = match.group()
    stripped = digits.lstrip("0")
    zeros = len(digits) - len(stripped)
    if zeros == 0:
        tokens.append((_DIGIT, int(digits)))
    else:
        tokens.append((_DIGIT, -zeros))
        if stripped:
            tokens.append((_DIGIT, int(stripped or "0")))
    return match.end()


def _apk_suffix(version: str, pos: int) -> tuple[int, int]:
    """(value, length of the suffix name) or (0, 0) for an unknown suffix. apk matches the name as a prefix."""
    for index, name in enumerate(_PRE_SUFFIXES):
        if version.startswith(name, pos):
            return index - len(_PRE_SUFFIXES), len(name)
    for index, name in enumerate(_POST_SUFFIXES):
        if version.startswith(name, pos):
            return index, len(name)
    return 0, 0


def apk_compare(a: str, b: str) -> int:
    """Compare two Alpine package versions as apk does. Where either version leaves apk's grammar before a
    difference is found, the two are compared as plain strings (apk's tests call that the "string sort" of
    invalid versions)."""
    ta, tb = _apk_tokens(a), _apk_tokens(b)
    for (a_type, a_value), (b_type, b_value) in zip(ta, tb, strict=False):
        if _INVALID in (a_type, b_type):
            return _sign((a > b) - (a < b))
        if a_type != b_type:
            return _apk_tail(a_type, a_value, b_type, b_value)
        if a_value != b_value:
            return _sign(a_value - b_value)
        if a_type == _END:
            return 0
    return 0


def _apk_tail(a_type: int, a_value: int, b_type: int, b_value: int) -> int:
    """Equal so far, and one version goes on differently: the lower next token type wins, but a pre-release
    suffix loses to anything."""
    if a_type == _SUFFIX and a_value < 0:
        return -1
    if b_type == _SUFFIX and b_value < 0:
        return 1
    return -1 if a_type > b_type else 1


# -------------------------------------------------------------------------------------------------- rpm
_RPM_SEGMENT = re.compile(r"[0-9]+|[A-Za-z]+")


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp on one version (or release) string: runs of ASCII digits and letters are compared in
    turn (numbers numerically, a number beats letters), everything else separates; "~" sorts before anything,
    even the end ("1.0~rc1" < "1.0"), and "^" after the end but before anything else ("1.0^git1" > "1.0")."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        i, j = _rpm_skip(a, i), _rpm_skip(b, j)
        ca, cb = a[i:i + 1], b[j:j + 1]
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        result, i, j = _rpm_segment(a, i, b, j)
        if result:
            return result
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_skip(text: str, pos: int) -> int:
    while pos < len(text) and not (text[pos].isascii() and text[pos].isalnum()) and text[pos] not in "~^":
        pos += 1
    return pos


def _rpm_segment(a: str, i: int, b: str, j: int) -> tuple[int, int, int]:
    """Compare the segment at a[i] with the one of the same kind (digits or letters) at b[j]."""
    numeric = a[i].isdigit()
    pattern = re.compile(r"[0-9]*" if numeric else r"[A-Za-z]*")
    seg_a = pattern.match(a, i).group()  # type: ignore[union-attr]  # "*" always matches
    seg_b = pattern.match(b, j).group()  # type: ignore[union-attr]
    if not seg_b:   # different kinds: a number is newer than letters
        return (1 if numeric else -1), i, j
    if numeric:
        seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
        if len(seg_a) != len(seg_b):
            return _sign(len(seg_a) - len(seg_b)), i, j
    if seg_a != seg_b:
        return (1 if seg_a > seg_b else -1), i, j
    return 0, i + len(pattern.match(a, i).group()), j + len(pattern.match(b, j).group())  # type: ignore[union-attr]


def split_evr(evr: str) -> tuple[int, str, str | None]:
    """"[epoch:]version[-release]" → (epoch, version, release or None). The release is after the LAST hyphen,
    as in rpm; a missing or non-numeric epoch is 0."""
    epoch = 0
    head, sep, rest = evr.partition(":")
    if sep and head.isdigit():
        epoch, evr = int(head), rest
    version, sep, release = evr.rpartition("-")
    if not sep:
        return epoch, evr, None
    return epoch, version, release


def rpm_compare(a: str, b: str) -> int:
    """Compare two epoch:version-release strings as rpm does. When only one side has a release (an advisory
    that says "fixed in 3.0.7"), the releases are not compared, as rpm does for a dependency without one."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    if ea != eb:
        return _sign(ea - eb)
    if result := rpmvercmp(va, vb):
        return result
    if ra is None or rb is None:
        return 0
    return rpmvercmp(ra, rb)


# ------------------------------------------------------------------------------------------ natural sort
_NATURAL = re.compile(r"[0-9]+|[^0-9]+")


def natural_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Runs of digits compare as numbers, other runs as text, a number before text at the same place; a
    version that is a prefix of another is the lower ("1.0" < "1.0.1")."""
    return tuple((0, int(run), "") if run.isdigit() else (1, 0, run) for run in _NATURAL.findall(version))


def natural_compare(a: str, b: str) -> int:
    """The fallback for ecosystems without their own comparator, and for versions a library refuses."""
    ka, kb = natural_key(a), natural_key(b)
    return (ka > kb) - (ka < kb)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)
