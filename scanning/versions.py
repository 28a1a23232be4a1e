"""Versions as each OSV ecosystem orders them, and the OSV evaluation of an advisory's `affected` entry.

Which comparator an ecosystem gets (by its base name, before the first ":"):
- Debian, Ubuntu: dpkg's rules, by python-debian.
- Alpine: apk's rules, our own (vercmp.apk_compare), tested against apk-tools' own vectors.
- PyPI: PEP 440, by packaging. npm (and every SEMVER range): SemVer 2 by node-semver, loose.
- Red Hat, AlmaLinux, Rocky Linux, openSUSE, SUSE, Mageia (and the other rpm-based ones): rpm's
  epoch:version-release rules, our own (vercmp.rpm_compare), tested against rpm's rpmvercmp vectors.
- Anything else: a natural sort (vercmp.natural_compare), digits as numbers.
A version that the ecosystem's library refuses is compared by the natural sort too: it never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cmp_to_key, lru_cache
from typing import Any

import nodesemver
from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion
from packaging.version import Version as PythonVersion

from scanning.vercmp import apk_compare, natural_compare, rpm_compare

Comparator = Callable[[str, str], int]

RPM_ECOSYSTEMS = frozenset({
    "Red Hat", "AlmaLinux", "Rocky Linux", "openSUSE", "SUSE", "Mageia", "openEuler", "Photon OS",
})


def base_ecosystem(ecosystem: str) -> str:
    """"Debian:12" → "Debian"; "Red Hat:enterprise_linux:9::appstream" → "Red Hat"; "npm" → "npm"."""
    return ecosystem.split(":", 1)[0].strip()


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as version a sorts before, with or after b in the ecosystem (OSV's name for it)."""
    if a == b:
        return 0
    return comparator(ecosystem)(a, b)


def comparator(ecosystem: str) -> Comparator:
    """The comparison function for an ecosystem, for callers that compare many versions of one ecosystem."""
    base = base_ecosystem(ecosystem)
    if base in ("Debian", "Ubuntu"):
        return _dpkg_compare
    if base == "Alpine":
        return apk_compare
    if base == "PyPI":
        return _pypi_compare
    if base == "npm":
        return semver_compare
    if base in RPM_ECOSYSTEMS:
        return rpm_compare
    return natural_compare


@lru_cache(maxsize=65536)
def _dpkg_version(version: str) -> DebianVersion | None:
    try:
        return DebianVersion(version)
    except ValueError:
        return None


@lru_cache(maxsize=262144)
def _dpkg_compare(a: str, b: str) -> int:
    # python-debian compares in pure Python (~40 µs a pair, measured); re-matching a thousand inventories asks
    # the same (installed, fixed) pairs again and again, so the answers are cached per process.
    va, vb = _dpkg_version(a), _dpkg_version(b)
    if va is None or vb is None:
        return natural_compare(a, b)
    return (va > vb) - (va < vb)


@lru_cache(maxsize=65536)
def _python_version(version: str) -> PythonVersion | None:
    try:
        return PythonVersion(version)
    except InvalidVersion:
        return None


def _pypi_compare(a: str, b: str) -> int:
    va, vb = _python_version(a), _python_version(b)
    if va is None or vb is None:   # e.g. a legacy "2004d" that PEP 440 refuses
        return natural_compare(a, b)
    return (va > vb) - (va < vb)


def semver_compare(a: str, b: str) -> int:
    """SemVer 2 with node-semver's loose parsing ("v1.2.3", "=1.2.3"); prereleases sort below the release."""
    try:
        result = nodesemver.compare(a, b, loose=True)
    except (ValueError, TypeError, AttributeError):
        return natural_compare(a, b)
    return (result > 0) - (result < 0)


# --------------------------------------------------------------------------------------- OSV evaluation
@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed: str | None = None   # the lowest fixed version above the installed one, when affected and known


NOT_AFFECTED = Verdict(False)
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def affected(ecosystem: str, version: str, entry: Mapping[str, Any] | Any) -> Verdict:
    """Is `version` of a package affected by one OSV `affected[]` element (its `ranges` and `versions`)?

    The OSV schema's evaluation, exactly: affected when the version is listed in `versions` or lies in any
    range; a range applies only below one of its `limit` events (none means no limit, "*" is infinity); within
    it the events, sorted by version, are walked: `introduced` at or below the version makes it affected, a
    `fixed` at or below it or a `last_affected` below it makes it unaffected again. "0" sorts before every
    version. ECOSYSTEM ranges use the ecosystem's ordering, SEMVER ranges SemVer's; GIT ranges need the
    repository and are skipped (OSV asks such records to list `versions` too).
    `entry` is the `affected[]` dict, or any object with `ranges` and `versions` attributes."""
    ranges, versions = _field(entry, "ranges"), _field(entry, "versions")
    ecosystem_cmp = comparator(ecosystem)
    hit = any(ecosystem_cmp(version, listed) == 0 for listed in versions if isinstance(listed, str))
    fixes: list[tuple[Comparator, str]] = []
    for range_ in ranges:
        cmp = _range_comparator(range_, ecosystem_cmp)
        if cmp is None:
            continue
        events = _sorted_events(range_.get("events") or [], cmp)
        if _before_limits(version, events, cmp) and _in_range(version, events, cmp):
            hit = True
            fixes += [(cmp, value) for kind, value in events if kind == "fixed" and cmp(version, value) < 0]
    if not hit:
        return NOT_AFFECTED
    return Verdict(True, _lowest(fixes))


def _field(entry: Mapping[str, Any] | Any, name: str) -> list[Any]:
    value = entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)
    return list(value) if isinstance(value, list | tuple) else []


def _range_comparator(range_: Any, ecosystem_cmp: Comparator) -> Comparator | None:
    if not isinstance(range_, Mapping):
        return None
    kind = range_.get("type")
    if kind == "ECOSYSTEM":
        return ecosystem_cmp
    if kind == "SEMVER":
        return semver_compare
    return None


def _sorted_events(events: Iterable[Any], cmp: Comparator) -> list[tuple[str, str]]:
    """(kind, version) pairs sorted by version, "0" first; ties keep the record's order (a stable sort)."""
    pairs = [(kind, event[kind]) for event in events if isinstance(event, Mapping)
             for kind in _EVENT_KINDS if isinstance(event.get(kind), str)]

    def by_version(x: tuple[str, str], y: tuple[str, str]) -> int:
        return _event_cmp(x[1], y[1], cmp)

    return sorted(pairs, key=cmp_to_key(by_version))


def _event_cmp(a: str, b: str, cmp: Comparator) -> int:
    if a == b:
        return 0
    if a == "0" or b == "*":
        return -1
    if b == "0" or a == "*":
        return 1
    return cmp(a, b)


def _before_limits(version: str, events: list[tuple[str, str]], cmp: Comparator) -> bool:
    limits = [value for kind, value in events if kind == "limit"]
    if not limits:
        return True
    return any(limit == "*" or cmp(version, limit) < 0 for limit in limits)


def _in_range(version: str, events: list[tuple[str, str]], cmp: Comparator) -> bool:
    vulnerable = False
    for kind, value in events:
        if kind == "introduced" and (value == "0" or cmp(version, value) >= 0):
            vulnerable = True
        elif kind == "fixed" and cmp(version, value) >= 0:  # noqa: SIM114 (the schema's pseudocode, branch for branch)
            vulnerable = False
        elif kind == "last_affected" and cmp(version, value) > 0:
            vulnerable = False
    return vulnerable


def _lowest(fixes: list[tuple[Comparator, str]]) -> str | None:
    lowest: tuple[Comparator, str] | None = None
    for cmp, value in fixes:
        if lowest is None or cmp(value, lowest[1]) < 0:
            lowest = (cmp, value)
    return lowest[1] if lowest else None


# ------------------------------------------------------------------------------------ os-release → ecosystem
_MAJOR_MINOR = re.compile(r"^(\d+)(?:\.(\d+))?")


def ecosystem_for(distro_id: str, version_id: str) -> str | None:
    """The OSV ecosystem of an image's distribution, from os-release's ID and VERSION_ID; None when we know no
    OSV ecosystem for it (or the release is not numbered, e.g. Debian testing without VERSION_ID)."""
    distro = distro_id.strip().lower()
    match = _MAJOR_MINOR.match(version_id.strip())
    if distro in ("rhel", "redhat"):
        return "Red Hat"
    if not match:
        return None
    major, minor = match.group(1), match.group(2)
    if distro == "debian":
        return f"Debian:{major}"
    if distro == "ubuntu" and minor is not None:
        return f"Ubuntu:{major}.{minor}"
    if distro == "alpine" and minor is not None:
        return f"Alpine:v{major}.{minor}"
    named = {"almalinux": "AlmaLinux", "rocky": "Rocky Linux", "mageia": "Mageia"}
    if distro in named:
        return f"{named[distro]}:{major}"
    return None


def same_release(installed: str, advisory: str) -> bool:
    """Does an advisory's ecosystem cover a package of the installed ecosystem? Equal names do, and so does an
    advisory that only adds qualifiers after the release: OSV writes "Ubuntu:22.04:LTS" and
    "Red Hat:enterprise_linux:9::appstream" where os-release gives us "Ubuntu:22.04" and "Red Hat"."""
    if installed == advisory:
        return True
    return advisory.startswith(installed + ":")
