"""Every source's severity lands on one scale: CVSS vectors by their base score, names by what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanning.severity import Severity, cvss_score, from_osv

FIXTURES = Path(__file__).parent / "osv"


@pytest.mark.parametrize(("kind", "vector", "score", "expected"), [
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, Severity.CRITICAL),   # Log4Shell
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, Severity.CRITICAL),
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, Severity.HIGH),       # CVE-2023-5363
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H", 7.4, Severity.HIGH),       # lodash
    ("CVSS_V3", "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N", 5.6, Severity.MEDIUM),     # requests
    ("CVSS_V3", "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8, Severity.LOW),
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, Severity.NEGLIGIBLE),
    ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, Severity.CRITICAL),
    ("CVSS_V4", "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, Severity.HIGH),
    ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", 5.1, Severity.MEDIUM),
    ("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, Severity.CRITICAL),
    ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, Severity.HIGH),
])
def test_a_cvss_vector_gives_its_base_score_and_the_v3_band(kind: str, vector: str, score: float,
                                                            expected: Severity) -> None:
    assert cvss_score(kind, vector) == score
    assert from_osv({"severity": [{"type": kind, "score": vector}]}) == (expected, vector)


def test_names_parse_case_insensitively_with_their_synonyms() -> None:
    assert Severity.parse("MODERATE") is Severity.MEDIUM
    assert Severity.parse("Important") is Severity.HIGH
    assert Severity.parse("critical") is Severity.CRITICAL
    assert Severity.parse("negligible") is Severity.NEGLIGIBLE
    assert Severity.parse("unimportant") is Severity.NEGLIGIBLE
    assert Severity.parse("low*") is Severity.LOW              # Debian's unconfirmed urgency
    assert Severity.parse("not yet assigned") is Severity.UNKNOWN
    assert Severity.parse("whatever") is Severity.UNKNOWN
    assert Severity.parse(None) is Severity.UNKNOWN
    assert Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.NEGLIGIBLE > Severity.UNKNOWN
    assert Severity.MEDIUM.label == "Medium"


def test_the_fixtures_get_the_severity_their_databases_publish() -> None:
    def load(name: str) -> dict:
        return json.loads((FIXTURES / f"{name}.json").read_text())

    assert from_osv(load("GHSA-j8r2-6x86-q33q")) == (
        Severity.MEDIUM, "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N")
    assert from_osv(load("GHSA-p6mc-m468-83gw"))[0] is Severity.HIGH
    assert from_osv(load("DSA-5532-1")) == (Severity.UNKNOWN, "")
    assert from_osv(load("ALPINE-CVE-2023-5363")) == (Severity.UNKNOWN, "")


def test_a_ghsa_record_without_a_vector_uses_its_moderate() -> None:
    record = {"id": "GHSA-xxxx", "severity": [], "database_specific": {"severity": "MODERATE"}}

    assert from_osv(record) == (Severity.MEDIUM, "")


def test_cvss_v3_is_preferred_then_v4_then_v2_and_a_broken_vector_is_passed_over() -> None:
    v3 = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N"
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    both = {"severity": [{"type": "CVSS_V4", "score": v4}, {"type": "CVSS_V3", "score": v3}]}
    broken = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}, {"type": "CVSS_V4", "score": v4}]}

    assert from_osv(both) == (Severity.MEDIUM, v3)
    assert from_osv(broken) == (Severity.CRITICAL, v4)


def test_debian_urgency_and_ubuntu_priority_are_read_where_those_databases_put_them() -> None:
    debian = {"affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                            "database_specific": {"urgency": "medium**"}}]}
    ubuntu = {"severity": [{"type": "Ubuntu", "score": "negligible"}],
              "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "tar"}}]}
    ecosystem_specific = {"affected": [{"ecosystem_specific": {"severity": "HIGH"}}]}

    assert from_osv(debian) == (Severity.MEDIUM, "")
    assert from_osv(ubuntu) == (Severity.NEGLIGIBLE, "")
    assert from_osv(ecosystem_specific) == (Severity.HIGH, "")


def test_a_vector_in_an_affected_entry_counts_when_the_record_has_none() -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    record = {"affected": [{"severity": [{"type": "CVSS_V3", "score": vector}]}],
              "database_specific": {"severity": "LOW"}}

    assert from_osv(record) == (Severity.HIGH, vector)


def test_nothing_known_is_unknown_and_garbage_never_raises() -> None:
    assert from_osv({}) == (Severity.UNKNOWN, "")
    assert from_osv({"severity": "high", "affected": "x", "database_specific": []}) == (Severity.UNKNOWN, "")
    assert from_osv({"severity": [None, {"type": "CVSS_V3", "score": 7}]}) == (Severity.UNKNOWN, "")
