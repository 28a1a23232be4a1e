"""The OSV reader streams every kind of source, reports bad records without stopping, and refuses a download
over its cap cleanly. No database."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from scanning import osv
from scanning.osv import Record, SourceError, merge_key, parse_timestamp
from scanning.severity import Severity
from scanning.versions import Verdict, affected

FIXTURES = Path(__file__).parent / "osv"


def record_json(record_id: str, **extra: object) -> dict:
    return {"id": record_id, "modified": "2024-05-20T20:15:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": f"pkg-{record_id}"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}],
            **extra}


class Errors(list[tuple[str, str]]):
    def __call__(self, where: str, message: str) -> None:
        self.append((where, message))


def test_the_fixture_directory_reads_as_the_four_real_records() -> None:
    errors = Errors()

    records = {record.id: record for record in osv.read(FIXTURES, errors=errors)}

    assert errors == []
    assert sorted(records) == ["ALPINE-CVE-2023-5363", "DSA-5532-1", "GHSA-j8r2-6x86-q33q", "GHSA-p6mc-m468-83gw"]
    requests_advisory = records["GHSA-j8r2-6x86-q33q"]
    assert requests_advisory.modified == datetime(2024, 6, 10, 18, 35, 6, tzinfo=UTC)
    assert requests_advisory.aliases == ["CVE-2024-35195"]
    assert requests_advisory.severity is Severity.MEDIUM
    assert requests_advisory.vector == "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N"
    assert requests_advisory.references[0].startswith("https://github.com/psf/requests/security/advisories/")
    assert requests_advisory.withdrawn is None
    [entry] = requests_advisory.affected
    assert (entry.ecosystem, entry.name, entry.purl) == ("PyPI", "requests", "pkg:pypi/requests")
    assert affected(entry.ecosystem, "2.31.0", entry) == Verdict(True, "2.32.0")
    assert affected(entry.ecosystem, "2.32.0", entry) == Verdict(False)
    lodash = records["GHSA-p6mc-m468-83gw"].affected[0]
    assert affected(lodash.ecosystem, "4.17.15", lodash) == Verdict(True, "4.17.19")
    dsa = records["DSA-5532-1"].affected[0]
    assert affected(dsa.ecosystem, "3.0.9-1", dsa) == Verdict(True, "3.0.11-1~deb12u2")
    alpine = records["ALPINE-CVE-2023-5363"].affected[0]
    assert affected(alpine.ecosystem, "3.1.3-r0", alpine) == Verdict(True, "3.1.4-r0")


def test_aliases_merge_under_the_cve() -> None:
    records = {record.id: record for record in osv.read(FIXTURES)}

    assert merge_key(records["GHSA-j8r2-6x86-q33q"]) == "CVE-2024-35195"
    assert merge_key(records["ALPINE-CVE-2023-5363"]) == "CVE-2023-5363"
    assert merge_key(records["DSA-5532-1"]) == "CVE-2023-5363"      # its one upstream CVE
    several = osv.parse(record_json("DSA-5000-1", upstream=["CVE-2021-1", "CVE-2021-2"]))
    assert merge_key(several) == "DSA-5000-1"
    assert merge_key(osv.parse(record_json("CVE-2024-1234", aliases=["GHSA-aaaa"]))) == "CVE-2024-1234"
    assert merge_key(osv.parse(record_json("PYSEC-2024-1"))) == "PYSEC-2024-1"


def test_an_ecosystem_zip_is_read_member_by_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for number in range(300):
            out.writestr(f"PYSEC-2024-{number}.json", json.dumps(record_json(f"PYSEC-2024-{number}")))
        out.writestr("broken.json", "{")
        out.writestr("README.txt", "not a record")
    errors = Errors()
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object, **kwargs: object) -> object:
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    seen = []
    for record in osv.read(archive, errors=errors):
        seen.append(record.id)
        assert len(opened) == len(seen)      # one member opened per record yielded: nothing read ahead

    assert len(seen) == 300
    assert seen[0] == "PYSEC-2024-0"
    assert errors == [(f"{archive}!broken.json", errors[0][1])]     # the other member is no .json: ignored


def test_a_file_may_hold_a_list_of_records_and_progress_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([record_json(f"GHSA-{number}") for number in range(250)]))
    counts: list[int] = []

    records = list(osv.read(path, progress=counts.append))

    assert len(records) == 250
    assert counts == [100, 200, 250]


def test_malformed_records_are_reported_and_skipped(tmp_path: Path) -> None:
    bad = [
        {"modified": "2024-01-01T00:00:00Z"},                                          # no id
        {"id": "X-1", "modified": "yesterday"},
        {"id": "X-2", "modified": "2024-01-01T00:00:00"},                              # no zone
        {"id": "X-3", "modified": "2024-01-01T00:00:00Z", "aliases": "CVE-1"},
        {"id": "X-4", "modified": "2024-01-01T00:00:00Z", "affected": {"package": {}}},
        {"id": "X-5", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"name": "a"}}]},
        record_json("X-6", affected=[{"package": {"ecosystem": "npm", "name": "a"},
                                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}]}]),
        record_json("X-7", affected=[{"package": {"ecosystem": "npm", "name": "a"},
                                      "ranges": [{"type": "SEMVER", "events": [{"fixed": "1"}]}]}]),
        "not an object",
    ]
    (tmp_path / "bad.json").write_text(json.dumps([record_json("GOOD-1"), *bad, record_json("GOOD-2")]))
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "broken.json").write_text("{ not json")
    (tmp_path / "nested" / "GOOD-3.json").write_text(json.dumps(record_json("GOOD-3")))
    errors = Errors()

    ids = [record.id for record in osv.read(tmp_path, errors=errors)]

    assert ids == ["GOOD-1", "GOOD-2", "GOOD-3"]
    assert len(errors) == len(bad) + 1
    assert errors[0][0].endswith("bad.json[1]") and "id" in errors[0][1]
    assert any(where.endswith("broken.json") and "JSON" in message for where, message in errors)
    assert any("exactly one" in message for _, message in errors)


def test_withdrawn_records_are_yielded_with_their_date_and_details_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "withdrawn.json"
    path.write_text(json.dumps(record_json("GHSA-gone", withdrawn="2024-06-01T12:00:00.123456789Z",
                                           details="x" * 50_000, summary="s")))

    [record] = osv.read(path)

    assert isinstance(record, Record)
    assert record.withdrawn == datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert len(record.details) == osv.DETAILS_LIMIT


def test_timestamps_are_rfc_3339_and_aware() -> None:
    assert parse_timestamp("2024-05-20T20:15:00+02:00").utcoffset() is not None
    assert parse_timestamp("2024-05-20t20:15:00.5z") == datetime(2024, 5, 20, 20, 15, 0, 500000, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_timestamp("2024-05-20")


def test_a_missing_source_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        list(osv.read(tmp_path / "nope.zip"))


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain http.server on loopback serving tmp_path: the internet's stand-in."""
    handler = partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_url_of_a_zip_is_downloaded_and_read(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    with zipfile.ZipFile(root / "all.zip", "w") as out:
        for path in sorted(FIXTURES.glob("*.json")):
            out.write(path, path.name)

    ids = sorted(record.id for record in osv.read(f"{base}/all.zip", max_download=1024 * 1024))

    assert ids == ["ALPINE-CVE-2023-5363", "DSA-5532-1", "GHSA-j8r2-6x86-q33q", "GHSA-p6mc-m468-83gw"]


def test_a_url_over_the_size_cap_is_a_clean_error(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    (root / "big.json").write_text(json.dumps([record_json(f"GHSA-{number}") for number in range(200)]))

    with pytest.raises(SourceError, match="limit"):
        list(osv.read(f"{base}/big.json", max_download=4096))
    with pytest.raises(SourceError, match="HTTP 404"):
        list(osv.read(f"{base}/missing.zip"))
