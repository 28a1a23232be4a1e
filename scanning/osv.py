"""A streaming reader of OSV advisories: a JSON file (one record or a list), a directory of them, the ecosystem
zip that osv.dev publishes (all.zip: one record per member), or an http(s) URL of either.

Memory stays flat whatever the source: a zip is read member by member (never whole), a download goes to a
temporary file in chunks under a size cap, and records are yielded one at a time. A malformed record is
reported through the `errors` callback and skipped: one bad record must not stop an import of 100,000. A
source that cannot be read at all (a failed download, a download over the cap, a file that is neither JSON
nor zip) raises SourceError.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import requests

from scanning.severity import Severity, from_osv

log = logging.getLogger(__name__)

ErrorHandler = Callable[[str, str], None]     # (where: a file or zip member, what is wrong)
ProgressHook = Callable[[int], None]          # (records read so far, good or bad)

DETAILS_LIMIT = 10_000          # characters of `details` kept; the page links the advisory for the rest
SUMMARY_LIMIT = 500
REFERENCES_LIMIT = 10           # the first few are the advisory and the fix; the long tail is mirrors
RECORD_LIMIT = 16 * 1024 * 1024   # one record larger than this is refused (the largest real ones are ~2 MB)
DOWNLOAD_LIMIT = 2 * 1024 ** 3    # osv.dev's largest ecosystem zip is a few hundred MB
PROGRESS_EVERY = 100
_EVENT_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_EMBEDDED_CVE = re.compile(r"^[A-Z][A-Z0-9]*-(CVE-\d{4}-\d{4,})$")


class SourceError(Exception):
    """The source as a whole cannot be read."""


class InvalidRecord(ValueError):
    """One record is malformed; the message says how."""


class Affected(NamedTuple):
    ecosystem: str
    name: str
    ranges: list[dict[str, Any]]
    versions: list[str]
    purl: str | None


@dataclass(frozen=True)
class Record:
    id: str
    modified: datetime
    withdrawn: datetime | None
    published: datetime | None
    aliases: list[str]
    upstream: list[str]
    summary: str
    details: str
    severity: Severity
    vector: str                 # the CVSS vector the severity came from, "" when it came from a name
    references: list[str]
    affected: list[Affected]


def read(source: str | Path, *, errors: ErrorHandler | None = None, progress: ProgressHook | None = None,
         max_download: int = DOWNLOAD_LIMIT, timeout: float = 60.0) -> Iterator[Record]:
    """Every well-formed record of a source, one at a time. `progress` is called with the running count every
    100 records and once at the end; `max_download` caps a URL's size in bytes."""
    report = errors if errors is not None else _log_error   # a callable may be falsy (an empty list-like)
    count = 0
    for where, raw in _raw_records(source, report, max_download, timeout):
        count += 1
        try:
            yield parse(raw)
        except InvalidRecord as exc:
            report(where, str(exc))
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    if progress is not None:
        progress(count)


def _log_error(where: str, message: str) -> None:
    log.warning("skipped an OSV record in %s: %s", where, message)


# ------------------------------------------------------------------------------------------------ sources
def _raw_records(source: str | Path, report: ErrorHandler, max_download: int,
                 timeout: float) -> Iterator[tuple[str, Any]]:
    text = str(source)
    if text.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="osv-") as folder:
            path = Path(folder) / "download"
            download(text, path, max_bytes=max_download, timeout=timeout)
            yield from _path_records(path, report, where=text)
        return
    path = Path(source)
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.is_file():
                yield from _file_records(file, report, where=str(file))
    elif path.is_file():
        yield from _path_records(path, report, where=str(path))
    else:
        raise SourceError(f"{path}: no such file or directory")


def _path_records(path: Path, report: ErrorHandler, where: str) -> Iterator[tuple[str, Any]]:
    if zipfile.is_zipfile(path):
        yield from _zip_records(path, report, where)
    else:
        yield from _file_records(path, report, where)


def _file_records(path: Path, report: ErrorHandler, where: str) -> Iterator[tuple[str, Any]]:
    """A JSON file holds one record or a list of them (osv.dev's API answers and some exports do)."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        report(where, f"not readable JSON: {exc}")
        return
    yield from _one_or_many(where, data)


def _zip_records(path: Path, report: ErrorHandler, where: str) -> Iterator[tuple[str, Any]]:
    """Member by member: zipfile reads each one from the file on demand, so memory holds one record."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{where}: not a readable zip: {exc}") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            member = f"{where}!{info.filename}"
            data = _read_member(archive, info, member, report)
            if data is not None:
                yield from _one_or_many(member, data)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, report: ErrorHandler) -> Any:
    if info.file_size > RECORD_LIMIT:
        report(member, f"larger than {RECORD_LIMIT} bytes")
        return None
    try:
        with archive.open(info) as handle:
            body = handle.read(RECORD_LIMIT + 1)   # the header's size could lie: never read past the limit
        if len(body) > RECORD_LIMIT:
            report(member, f"larger than {RECORD_LIMIT} bytes")
            return None
        return json.loads(body)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        report(member, f"not readable JSON: {exc}")
        return None


def _one_or_many(where: str, data: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield f"{where}[{index}]", item
    else:
        yield where, data


def download(url: str, path: Path, *, max_bytes: int, timeout: float = 60.0) -> int:
    """Stream a URL to a file in 1 MiB chunks; SourceError (and nothing left behind) when it fails or passes
    max_bytes. Returns the size."""
    written = 0
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise SourceError(f"{url}: HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"{url}: {int(declared)} bytes is over the {max_bytes}-byte limit")
            with path.open("wb") as out:
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    written += len(chunk)
                    if written > max_bytes:
                        raise SourceError(f"{url}: over the {max_bytes}-byte limit")
                    out.write(chunk)
    except requests.RequestException as exc:
        path.unlink(missing_ok=True)
        raise SourceError(f"{url}: {exc}") from exc
    except SourceError:
        path.unlink(missing_ok=True)
        raise
    return written


# ------------------------------------------------------------------------------------------- validation
def parse(raw: Any) -> Record:
    """A Record from one OSV JSON object, or InvalidRecord saying what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise InvalidRecord("a record must be a JSON object")
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not record_id.strip() or len(record_id) > 255:
        raise InvalidRecord("id must be a non-empty string")
    modified = _timestamp(raw, "modified", required=True)
    assert modified is not None
    severity, vector = from_osv(raw)
    return Record(
        id=record_id,
        modified=modified,
        withdrawn=_timestamp(raw, "withdrawn"),
        published=_timestamp(raw, "published"),
        aliases=_strings(raw, "aliases"),
        upstream=_strings(raw, "upstream"),
        summary=_text(raw, "summary")[:SUMMARY_LIMIT],
        details=_text(raw, "details")[:DETAILS_LIMIT],
        severity=severity,
        vector=vector,
        references=_references(raw.get("references")),
        affected=_affected(raw.get("affected"), record_id),
    )


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime; nanoseconds (Go writes them) are cut to microseconds."""
    match = _RFC3339.match(value)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    date, time, fraction, zone = match.groups()
    fraction = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{date}T{time}.{fraction}{zone}")


def _timestamp(raw: Mapping[str, Any], field: str, required: bool = False) -> datetime | None:
    value = raw.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{field} must be an RFC 3339 timestamp")
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidRecord(f"{field}: {exc}") from exc


def _strings(raw: Mapping[str, Any], field: str) -> list[str]:
    value = raw.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRecord(f"{field} must be a list of strings")
    return list(value)


def _text(raw: Mapping[str, Any], field: str) -> str:
    value = raw.get(field)
    return value if isinstance(value, str) else ""


def _references(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    urls = [ref["url"] for ref in value if isinstance(ref, Mapping) and isinstance(ref.get("url"), str)]
    return urls[:REFERENCES_LIMIT]


def _affected(value: Any, record_id: str) -> list[Affected]:
    """Entries without a package (GIT-only ranges of some upstream records) have nothing to match and are left
    out; anything else that breaks the schema's shape rejects the record."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRecord("affected must be a list")
    entries = []
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise InvalidRecord(f"affected[{index}] must be an object")
        package = entry.get("package")
        if package is None:
            continue
        if not (isinstance(package, Mapping) and isinstance(package.get("ecosystem"), str)
                and isinstance(package.get("name"), str) and package["ecosystem"] and package["name"]):
            raise InvalidRecord(f"affected[{index}].package needs an ecosystem and a name")
        purl = package.get("purl")
        entries.append(Affected(
            ecosystem=package["ecosystem"], name=package["name"],
            ranges=_ranges(entry.get("ranges"), index), versions=_versions(entry.get("versions"), index),
            purl=purl if isinstance(purl, str) else None))
    return entries


def _ranges(value: Any, index: int) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRecord(f"affected[{index}].ranges must be a list")
    ranges = []
    for position, range_ in enumerate(value):
        where = f"affected[{index}].ranges[{position}]"
        if not isinstance(range_, Mapping) or not isinstance(range_.get("type"), str):
            raise InvalidRecord(f"{where} needs a type")
        events = range_.get("events")
        if not isinstance(events, list) or not events:
            raise InvalidRecord(f"{where}.events must be a non-empty list")
        clean = [_event(event, where) for event in events]
        if not any("introduced" in event for event in clean):
            raise InvalidRecord(f"{where} has no introduced event")
        kept = {"type": range_["type"], "events": clean}
        if isinstance(range_.get("repo"), str):
            kept["repo"] = range_["repo"]
        ranges.append(kept)
    return ranges


def _event(event: Any, where: str) -> dict[str, str]:
    """Exactly one of introduced / fixed / last_affected / limit, with a string version (the schema's rule)."""
    if not isinstance(event, Mapping):
        raise InvalidRecord(f"{where}: an event must be an object")
    kinds = [key for key in event if key in _EVENT_KINDS]
    if len(kinds) != 1 or not isinstance(event[kinds[0]], str) or not event[kinds[0]]:
        raise InvalidRecord(f"{where}: an event needs exactly one of {', '.join(sorted(_EVENT_KINDS))}")
    return {kinds[0]: event[kinds[0]]}


def _versions(value: Any, index: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRecord(f"affected[{index}].versions must be a list of strings")
    return list(value)


# ------------------------------------------------------------------------------------------------ merging
def merge_key(record: Record) -> str:
    """The key under which advisories about one vulnerability merge into one finding, so a CVE that GHSA,
    Debian and Alpine all describe is reported once. The rule, first match wins:
    1. the record's id, when it is a CVE id;
    2. a CVE among its aliases (the lowest, should there be several);
    3. the CVE embedded in a distribution's per-CVE id ("ALPINE-CVE-2023-5363", "DEBIAN-CVE-…", "UBUNTU-CVE-…");
    4. its `upstream` CVE, when it names exactly one (a DSA fixing one CVE);
    5. otherwise the record's own id (a DSA fixing several CVEs stays one finding of its own)."""
    if _CVE.match(record.id):
        return record.id
    aliases = sorted(alias for alias in record.aliases if _CVE.match(alias))
    if aliases:
        return aliases[0]
    if embedded := _EMBEDDED_CVE.match(record.id):
        return embedded.group(1)
    upstream = {name for name in record.upstream if _CVE.match(name)}
    if len(upstream) == 1:
        return upstream.pop()
    return record.id


def ecosystems(records: Iterable[Record]) -> dict[str, int]:
    """Records per ecosystem (a record counts once per ecosystem it names): the store's freshness line."""
    counts: dict[str, int] = {}
    for record in records:
        for ecosystem in {entry.ecosystem for entry in record.affected}:
            counts[ecosystem] = counts.get(ecosystem, 0) + 1
    return counts
