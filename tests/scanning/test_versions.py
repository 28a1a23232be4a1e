"""Versions compare as each ecosystem's own tools compare them, and OSV ranges are evaluated as the OSV schema's
pseudocode says. Pure functions: no database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scanning.vercmp import apk_compare, natural_compare, rpm_compare, rpmvercmp, split_evr
from scanning.versions import Verdict, affected, base_ecosystem, compare, ecosystem_for, same_release
from tests.conftest import require_tool

VECTORS = Path(__file__).parent / "vectors"
OPS = {"<": -1, "=": 0, ">": 1}


def apk_vectors() -> list[tuple[str, str, int]]:
    rows = []
    for line in (VECTORS / "apk-version.data").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            a, op, b = line.split()[:3]
            rows.append((a, b, OPS[op]))
    return rows


# rpm's tests/rpmvercmp.at (rpm-software-management/rpm), every RPMVERCMP(a, b, result) line; the caret
# cases come from rpm 4.15's additions to the same file.
RPMVERCMP = [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1),
    ("2.0.1", "2.0.1", 0), ("2.0", "2.0.1", -1), ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1a", 0), ("2.0.1a", "2.0.1", 1), ("2.0.1", "2.0.1a", -1),
    ("5.5p1", "5.5p1", 0), ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1),
    ("5.5p10", "5.5p10", 0), ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1), ("10.1xyz", "10xyz", 1),
    ("xyz10", "xyz10", 0), ("xyz10", "xyz10.1", -1), ("xyz10.1", "xyz10", 1),
    ("xyz.4", "xyz.4", 0), ("xyz.4", "8", -1), ("8", "xyz.4", 1), ("xyz.4", "2", -1), ("2", "xyz.4", 1),
    ("5.5p2", "5.6p1", -1), ("5.6p1", "5.5p2", 1),
    ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1),
    ("6.0.rc1", "6.0", 1), ("6.0", "6.0.rc1", -1),
    ("10b2", "10a1", 1), ("10a2", "10b2", -1),
    ("1.0aa", "1.0aa", 0), ("1.0a", "1.0aa", -1), ("1.0aa", "1.0a", 1),
    ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0), ("10.1", "10.0001", 0),
    ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1),
    ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1),
    ("20101121", "20101121", 0), ("20101121", "20101122", -1), ("20101122", "20101121", 1),
    ("2_0", "2_0", 0), ("2.0", "2_0", 0), ("2_0", "2.0", 0),
    ("a", "a", 0), ("a+", "a+", 0), ("a+", "a_", 0), ("a_", "a+", 0), ("+a", "+a", 0), ("+a", "_a", 0),
    ("_a", "+a", 0), ("+_", "+_", 0), ("_+", "+_", 0), ("_+", "_+", 0), ("+", "_", 0), ("_", "+", 0),
    ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0), ("1.0~rc1~git123", "1.0~rc1", -1), ("1.0~rc1", "1.0~rc1~git123", 1),
    ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1), ("1.0", "1.0^", -1),
    ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1),
    ("1.0^git1", "1.01", -1), ("1.01", "1.0^git1", 1),
    ("1.0^20160101", "1.0^20160101", 0), ("1.0^20160101", "1.0.1", -1), ("1.0.1", "1.0^20160101", 1),
    ("1.0^20160101^git1", "1.0^20160101^git1", 0), ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0^20160101^git1", "1.0^20160102", -1),
    ("1.0~rc1^git1", "1.0~rc1^git1", 0), ("1.0~rc1^git1", "1.0~rc1", 1), ("1.0~rc1", "1.0~rc1^git1", -1),
    ("1.0^git1~pre", "1.0^git1~pre", 0), ("1.0^git1", "1.0^git1~pre", 1), ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), apk_vectors())
def test_the_alpine_comparator_agrees_with_every_apk_tools_vector(a: str, b: str, expected: int) -> None:
    assert apk_compare(a, b) == expected
    assert apk_compare(b, a) == -expected
    assert compare("Alpine:v3.18", a, b) == expected


def test_the_apk_vectors_are_all_there() -> None:
    assert len(apk_vectors()) == 733


@pytest.mark.parametrize(("a", "b", "expected"), RPMVERCMP)
def test_rpmvercmp_agrees_with_every_rpm_vector(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected


def test_rpmvercmp_agrees_with_the_rpm_binary_on_the_vectors_and_on_real_releases() -> None:
    require_tool("rpm")   # skips on a laptop without it, fails in CI
    rpm = shutil.which("rpm")
    assert rpm is not None
    pairs = [(a, b) for a, b, _ in RPMVERCMP] + [
        ("27.el9_2", "27.el9"), ("1.el9_3.1", "1.el9_3"), ("150500.3.9.1", "150500.3.12.2"), ("3.mga9", "2.mga9"),
    ]
    calls = ", ".join(f'rpm.vercmp("{a}", "{b}")' for a, b in pairs)
    lua = f'print(table.concat({{{calls}}}, " "))'
    output = subprocess.run([rpm, "--eval", f"%{{lua: {lua}}}"], capture_output=True, text=True, timeout=30,
                            check=True).stdout.split()

    assert [rpmvercmp(a, b) for a, b in pairs] == [int(result) for result in output]


def test_rpm_compares_epoch_first_then_version_then_release() -> None:
    assert split_evr("1:3.0.7-27.el9") == (1, "3.0.7", "27.el9")
    assert split_evr("3.0.7") == (0, "3.0.7", None)
    assert rpm_compare("1:1.0-1", "2.0-1") == 1
    assert rpm_compare("1:3.0.7-24.el9", "1:3.0.7-27.el9") == -1
    assert rpm_compare("3.0.7-27.el9_2", "3.0.7-27.el9") == 1
    assert rpm_compare("3.0.7", "3.0.7-27.el9") == 0          # no release on one side: not compared
    for ecosystem in ("Red Hat", "AlmaLinux:9", "Rocky Linux:9", "openSUSE:Leap 15.5", "SUSE", "Mageia:9"):
        assert compare(ecosystem, "1:3.0.7-24.el9", "1:3.0.7-27.el9") == -1


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1:1.0", "2.0", 1),                          # the epoch wins
    ("1.0~rc1", "1.0", -1),                       # a tilde sorts before the release
    ("3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1),
    ("3.0.11-1~deb12u2", "3.0.11-1", -1),         # a stable update sorts below the unstable upload
    ("3.0.11-1~deb12u2", "3.0.9-1", 1),
    ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
    ("1.0+dfsg-1", "1.0-1", 1),
    ("1.2.3", "1.2.3-0", 0),
])
def test_debian_and_ubuntu_compare_as_dpkg(a: str, b: str, expected: int) -> None:
    assert compare("Debian:12", a, b) == expected
    assert compare("Ubuntu:22.04", a, b) == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("2.31.0", "2.32.0", -1),
    ("2.32.0rc1", "2.32.0", -1),
    ("2.32.0.dev1", "2.32.0rc1", -1),
    ("2.32.0.post1", "2.32.0", 1),
    ("2.32", "2.32.0", 0),                        # PEP 440 pads with zeros
    ("1!1.0", "2.0", 1),
    ("2004d", "2005a", -1),                       # not PEP 440: compared naturally, no crash
    ("not a version", "2.0", 1),
])
def test_pypi_compares_by_pep_440_and_never_crashes(a: str, b: str, expected: int) -> None:
    assert compare("PyPI", a, b) == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("4.17.15", "4.17.19", -1),
    ("1.0.0-alpha", "1.0.0", -1),
    ("1.0.0-alpha", "1.0.0-alpha.1", -1),
    ("1.0.0-alpha.beta", "1.0.0-beta", -1),
    ("1.0.0-rc.1", "1.0.0-beta.11", 1),
    ("v1.2.3", "1.2.3", 0),
    ("1.2.3+build.5", "1.2.3", 0),                # build metadata does not order
    ("banana", "1.0.0", 1),                       # not SemVer: compared naturally, no crash
])
def test_npm_compares_by_semver(a: str, b: str, expected: int) -> None:
    assert compare("npm", a, b) == expected


def test_other_ecosystems_sort_naturally() -> None:
    assert compare("crates.io", "0.9.10", "0.10.0") == -1
    assert compare("Go", "v1.10.0", "v1.9.2") == 1
    assert natural_compare("1.0", "1.0.1") == -1
    assert natural_compare("abc", "abc") == 0


def test_ecosystem_names_and_os_release() -> None:
    assert base_ecosystem("Debian:12") == "Debian"
    assert base_ecosystem("Red Hat:enterprise_linux:9::appstream") == "Red Hat"
    assert base_ecosystem("PyPI") == "PyPI"
    assert ecosystem_for("debian", "12") == "Debian:12"
    assert ecosystem_for("alpine", "3.18.4") == "Alpine:v3.18"
    assert ecosystem_for("ubuntu", "22.04") == "Ubuntu:22.04"
    assert ecosystem_for("rhel", "9.3") == "Red Hat"
    assert ecosystem_for("almalinux", "9.3") == "AlmaLinux:9"
    assert ecosystem_for("rocky", "9.2") == "Rocky Linux:9"
    assert ecosystem_for("debian", "") is None        # testing/sid have no VERSION_ID
    assert ecosystem_for("plan9", "4") is None
    assert same_release("Ubuntu:22.04", "Ubuntu:22.04:LTS")
    assert same_release("Red Hat", "Red Hat:enterprise_linux:9::appstream")
    assert not same_release("Debian:12", "Debian:11")
    assert not same_release("Ubuntu:22.04", "Ubuntu:22.040")


# --- OSV evaluation: the schema's own examples, then the cases around them
def semver(*events: dict[str, str]) -> dict:
    return {"ranges": [{"type": "SEMVER", "events": list(events)}]}


def test_introduced_zero_and_fixed_affect_everything_below_the_fix() -> None:
    entry = semver({"introduced": "0"}, {"fixed": "1.0.2"})

    assert affected("npm", "0.0.1", entry) == Verdict(True, "1.0.2")
    assert affected("npm", "1.0.1", entry) == Verdict(True, "1.0.2")
    assert affected("npm", "1.0.2", entry) == Verdict(False)
    assert affected("npm", "2.0.0", entry) == Verdict(False)


def test_an_unfixed_vulnerability_affects_every_version() -> None:
    entry = semver({"introduced": "0"})

    assert affected("npm", "0.0.0", entry) == Verdict(True, None)
    assert affected("npm", "99.0.0", entry) == Verdict(True, None)


def test_several_introduced_and_fixed_pairs_in_one_range() -> None:
    entry = semver({"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"})

    assert affected("npm", "0.9.0", entry).affected is False
    assert affected("npm", "1.0.1", entry) == Verdict(True, "1.0.2")
    assert affected("npm", "2.0.0", entry).affected is False
    assert affected("npm", "3.1.0", entry) == Verdict(True, "3.2.5")
    assert affected("npm", "3.2.5", entry).affected is False


def test_events_are_sorted_before_the_walk() -> None:
    entry = semver({"fixed": "3.2.5"}, {"introduced": "3.0.0"}, {"fixed": "1.0.2"}, {"introduced": "1.0.0"})

    assert affected("npm", "3.1.0", entry) == Verdict(True, "3.2.5")
    assert affected("npm", "2.0.0", entry).affected is False


def test_last_affected_includes_that_version_and_nothing_after() -> None:
    entry = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "2.1.214"}]}]}

    assert affected("PyPI", "2.1.214", entry) == Verdict(True, None)
    assert affected("PyPI", "2.1.215", entry) == Verdict(False)


def test_a_limit_bounds_the_range() -> None:
    entry = semver({"introduced": "1.0.0"}, {"limit": "2.0.0"})

    assert affected("npm", "1.5.0", entry).affected is True
    assert affected("npm", "2.0.0", entry).affected is False
    assert affected("npm", "3.0.0", entry).affected is False
    assert affected("npm", "3.0.0", semver({"introduced": "1.0.0"}, {"limit": "*"})).affected is True


def test_several_ranges_any_one_suffices_and_the_lowest_fix_above_is_reported() -> None:
    entry = {"ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.31.5"}]},
        {"type": "GIT", "repo": "https://github.com/psf/requests", "events": [{"introduced": "0"}]},
    ]}

    assert affected("PyPI", "2.31.0", entry) == Verdict(True, "2.31.5")
    assert affected("PyPI", "2.31.7", entry) == Verdict(True, "2.32.0")
    assert affected("PyPI", "2.32.0", entry) == Verdict(False)      # the GIT range is not evaluated


def test_an_explicit_versions_list_affects_exactly_those_versions() -> None:
    entry = {"versions": ["1.0.0", "1.0.1"], "ranges": []}

    assert affected("npm", "1.0.1", entry) == Verdict(True, None)
    assert affected("npm", "1.0.2", entry) == Verdict(False)
    assert affected("PyPI", "2.0", {"versions": ["2.0.0"]}).affected is True   # equal as PEP 440 says


def test_ecosystem_ranges_use_the_ecosystem_and_semver_ranges_use_semver() -> None:
    debian = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}
    alpine = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r0"}]}]}

    assert affected("Debian:12", "3.0.11-1~deb12u1", debian) == Verdict(True, "3.0.11-1~deb12u2")
    assert affected("Debian:12", "3.0.11-1~deb12u2", debian) == Verdict(False)
    assert affected("Debian:12", "3.0.13-1~deb12u1", debian) == Verdict(False)
    assert affected("Alpine:v3.18", "3.1.3-r0", alpine) == Verdict(True, "3.1.4-r0")
    assert affected("Alpine:v3.18", "3.1.4-r0", alpine) == Verdict(False)
    # A SEMVER range in a PyPI entry still orders as SemVer: 1.0.0-rc.1 is a prerelease of 1.0.0.
    assert affected("PyPI", "1.0.0-rc.1", semver({"introduced": "0"}, {"fixed": "1.0.0"})).affected is True


def test_odd_entries_never_raise() -> None:
    assert affected("npm", "1.0.0", {}) == Verdict(False)
    assert affected("npm", "1.0.0", {"ranges": "nonsense", "versions": None}) == Verdict(False)
    assert affected("npm", "1.0.0", {"ranges": [None, {"type": "SEMVER"}, {"type": "SEMVER", "events": [1]}]}) \
        == Verdict(False)
