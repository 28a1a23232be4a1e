"""Package databases and metadata files, from bytes to packages: pure functions, no I/O.

Each parser takes the bytes of one file (already bounded by the indexer) and the path it came from. A database
past a limit (lines, packages) raises LayerError with the reason; a malformed stanza or file is skipped, so a
damaged entry costs that entry and nothing else.
"""

from __future__ import annotations

import json
import posixpath
import re
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from scanning.limits import LayerError, Limits

OS_KINDS = frozenset({"dpkg", "apk", "rpm"})
LANGUAGE_KINDS = frozenset({"python", "npm"})
OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
OS_RELEASE_KEYS = ("ID", "ID_LIKE", "NAME", "VERSION", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME")
RPMDB_PATHS = frozenset({"var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"})


@dataclass(frozen=True)
class Package:
    kind: str                     # dpkg | apk | rpm | python | npm
    name: str
    version: str                  # dpkg: with its epoch as written; rpm: [epoch:]version-release
    source_name: str = ""         # dpkg Source:, apk origin, rpm source package; else the name itself
    source_version: str = ""
    path: str = ""                # the database or metadata file it was read from
    arch: str = ""
    licenses: tuple[str, ...] = ()
    layer: str = ""               # digest of the layer that added it (set by inventory.compose)

    @property
    def is_os_package(self) -> bool:
        return self.kind in OS_KINDS

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["licenses"] = list(self.licenses)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Package:
        values = dict(data)
        values["licenses"] = tuple(values.get("licenses") or ())  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


@dataclass
class _Counter:
    """Counts packages across one file so a database of a million tiny stanzas stops at the limit."""

    limits: Limits
    path: str
    packages: list[Package] = field(default_factory=list)

    def add(self, package: Package) -> None:
        if len(self.packages) >= self.limits.max_packages:
            raise LayerError(f"{self.path}: more than {self.limits.max_packages} packages")
        self.packages.append(package)


def classify(path: str) -> str | None:
    """The kind of package file at this (normalised, relative) path, or None for everything else."""
    if path in OS_RELEASE_PATHS:
        return "os-release"
    if path == "var/lib/dpkg/status":
        return "dpkg"
    directory, base = posixpath.split(path)
    if directory == "var/lib/dpkg/status.d" and base and "." not in base:
        return "dpkg"            # distroless: one stanza per file; <name>.md5sums beside it are not stanzas
    if path == "lib/apk/db/installed":
        return "apk"
    if path in RPMDB_PATHS:
        return "rpm"
    parent = posixpath.basename(directory)
    if (base == "METADATA" and parent.endswith(".dist-info")) or (base == "PKG-INFO" and parent.endswith(".egg-info")):
        return "python"
    if base.endswith(".egg-info") and parent in ("site-packages", "dist-packages"):
        return "python"          # a legacy distutils install: the .egg-info is the metadata file itself
    if base == "package.json":
        return "npm" if _is_installed_npm_dir(directory) else None
    if base == "package-lock.json" and "node_modules" not in directory.split("/"):
        return "npm-lock"
    return None


def _is_installed_npm_dir(directory: str) -> bool:
    parts = directory.split("/")
    if len(parts) >= 2 and parts[-2] == "node_modules":
        return not parts[-1].startswith((".", "@"))
    return len(parts) >= 3 and parts[-3] == "node_modules" and parts[-2].startswith("@") and len(parts[-2]) > 1


def parse(kind: str, data: bytes, path: str, limits: Limits) -> list[Package]:
    parser = PARSERS.get(kind)
    return [package for package in parser(data, path, limits) if _storable(package)] if parser else []


def _storable(package: Package) -> bool:
    """A NUL or a lone surrogate (a JSON string may hold both) would be refused by PostgreSQL's jsonb."""
    text = "".join((package.name, package.version, package.source_name, package.source_version, package.arch,
                    *package.licenses))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\0" not in text


def _lines(data: bytes, path: str, limits: Limits) -> list[str]:
    # Count before splitting: a million-line file is refused without building a million strings.
    if data.count(b"\n") > limits.max_lines:
        raise LayerError(f"{path}: more than {limits.max_lines} lines")
    return data.decode("utf-8", errors="replace").splitlines()


def _stanzas(lines: list[str]) -> Iterator[dict[str, str]]:
    """RFC 822-like stanzas separated by blank lines; continuation lines (leading space) are dropped."""
    stanza: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            if stanza:
                yield stanza
            stanza = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            stanza[key.strip()] = value.strip()
    if stanza:
        yield stanza


_DPKG_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")


def parse_dpkg(data: bytes, path: str, limits: Limits) -> list[Package]:
    """var/lib/dpkg/status (only "install ok installed") or one distroless status.d file (no Status field)."""
    found = _Counter(limits, path)
    for stanza in _stanzas(_lines(data, path, limits)):
        name, version = stanza.get("Package", ""), stanza.get("Version", "")
        status = stanza.get("Status")
        if not name or not version or (status is not None and status.split()[-1:] != ["installed"]):
            continue
        source_name, source_version = name, version
        if match := _DPKG_SOURCE.match(stanza.get("Source", "")):
            source_name, source_version = match.group(1), match.group(2) or version
        found.add(Package("dpkg", name, version, source_name, source_version, path, stanza.get("Architecture", "")))
    return found.packages


def parse_apk(data: bytes, path: str, limits: Limits) -> list[Package]:
    """lib/apk/db/installed: single-letter keys, one stanza per package (P name, V version, o origin)."""
    found = _Counter(limits, path)
    for stanza in _stanzas(_lines(data, path, limits)):
        name, version = stanza.get("P", ""), stanza.get("V", "")
        if name and version:
            licenses = tuple(stanza["L"].split()) if stanza.get("L") else ()
            found.add(Package("apk", name, version, stanza.get("o") or name, version, path, stanza.get("A", ""),
                              licenses))
    return found.packages


def parse_python(data: bytes, path: str, limits: Limits) -> list[Package]:
    """A METADATA or PKG-INFO file: email-style headers up to the first blank line."""
    headers: dict[str, str] = {}
    for line in _lines(data[:256 * 1024], path, limits):
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace():
            headers.setdefault(key.strip().lower(), value.strip())
    name, version = headers.get("name", ""), headers.get("version", "")
    if not name or not version:
        return []
    license_ = headers.get("license-expression") or headers.get("license", "")
    licenses = (license_,) if license_ and license_ != "UNKNOWN" and len(license_) < 200 else ()
    normalized = canonical_python_name(name)
    return [Package("python", normalized, version, normalized, version, path, "", licenses)]


def canonical_python_name(name: str) -> str:
    """PEP 503: runs of -, _ and . become one -, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _json(data: bytes) -> object:
    try:
        return json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None


def _npm_license(value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return (value["type"],)
    return ()


def parse_npm_package(data: bytes, path: str, limits: Limits) -> list[Package]:
    """node_modules/<name>/package.json of an installed package."""
    doc = _json(data)
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [Package("npm", name, version, name, version, path, "", _npm_license(doc.get("license")))]


def parse_npm_lock(data: bytes, path: str, limits: Limits) -> list[Package]:
    """package-lock.json: lockfileVersion 2/3 `packages` map, or v1's nested `dependencies`; dev and linked
    entries are left out (an image built with --omit=dev still ships the lock that lists them)."""
    doc = _json(data)
    if not isinstance(doc, dict):
        return []
    found = _Counter(limits, path)
    packages = doc.get("packages")
    if isinstance(packages, dict):
        for key, entry in packages.items():
            if not key or not isinstance(entry, dict) or entry.get("dev") or entry.get("link"):
                continue
            name = entry.get("name") or key.rpartition("node_modules/")[2]
            version = entry.get("version")
            if isinstance(name, str) and name and isinstance(version, str) and version:
                found.add(Package("npm", name, version, name, version, path, "", _npm_license(entry.get("license"))))
        return found.packages
    _walk_lock_v1(doc.get("dependencies"), found, depth=0)
    return found.packages


def _walk_lock_v1(dependencies: object, found: _Counter, depth: int) -> None:
    if not isinstance(dependencies, dict) or depth > 64:
        return
    for name, entry in dependencies.items():
        if not isinstance(entry, dict) or entry.get("dev"):
            continue
        version = entry.get("version")
        if isinstance(version, str) and version and not version.startswith(("file:", "link:")):
            found.add(Package("npm", name, version, name, version, found.path))
        _walk_lock_v1(entry.get("dependencies"), found, depth + 1)


def parse_os_release(data: bytes, path: str, limits: Limits) -> dict[str, str]:
    """KEY=value lines, values optionally quoted (os-release(5)); only the keys a scanner needs are kept."""
    fields: dict[str, str] = {}
    for line in _lines(data[:64 * 1024], path, limits):
        key, sep, value = line.strip().partition("=")
        if not sep or key not in OS_RELEASE_KEYS:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields[key] = value.replace("\0", "")
    return fields


# --- rpm: the sqlite database holds one header blob per package, in rpm's own binary format ---------------

RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH = 1000, 1001, 1002, 1003
RPMTAG_LICENSE, RPMTAG_ARCH, RPMTAG_SOURCERPM = 1014, 1022, 1044
_RPM_STRING, _RPM_INT32, _RPM_STRING_ARRAY, _RPM_I18NSTRING = 6, 4, 8, 9
_WANTED = {RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH, RPMTAG_LICENSE, RPMTAG_ARCH, RPMTAG_SOURCERPM}


def parse_rpm_header(blob: bytes) -> dict[int, str | int]:
    """The tags we need from one header blob: il and dl (big-endian int32), il index entries of
    (tag, type, offset, count), then dl bytes of data. Raises ValueError on anything out of bounds."""
    if len(blob) < 8:
        raise ValueError("short header")
    il, dl = struct.unpack(">ii", blob[:8])
    store = 8 + 16 * il
    if il < 1 or dl < 0 or il > 100_000 or store + dl > len(blob):
        raise ValueError("header sizes out of bounds")
    tags: dict[int, str | int] = {}
    for tag, type_, offset, count in struct.iter_unpack(">iiii", blob[8:store]):
        if tag not in _WANTED or not 0 <= offset < dl:
            continue
        start = store + offset
        if type_ == _RPM_INT32 and count >= 1 and offset + 4 <= dl:
            tags[tag] = struct.unpack(">i", blob[start:start + 4])[0]
        elif type_ in (_RPM_STRING, _RPM_STRING_ARRAY, _RPM_I18NSTRING):
            end = blob.find(b"\0", start, store + dl)
            if end < 0:
                raise ValueError("unterminated string")
            tags[tag] = blob[start:end].decode("utf-8", errors="replace")
    return tags


def parse_rpm_sqlite(data: bytes, path: str, limits: Limits) -> list[Package]:
    """rpmdb.sqlite: the `Packages` table's header blobs, opened from memory (the file is never written out)."""
    if not data.startswith(b"SQLite format 3\0"):
        raise LayerError(f"{path}: not an sqlite database")
    image = bytearray(data)
    image[18:20] = b"\x01\x01"   # rpm leaves the file in WAL mode, which an in-memory database cannot open
    found = _Counter(limits, path)
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(bytes(image))
        rows = connection.execute("SELECT blob FROM Packages LIMIT ?", (limits.max_packages + 1,))
        for (blob,) in rows:
            if isinstance(blob, bytes):
                _add_rpm(found, blob, path)
    except sqlite3.Error as exc:
        raise LayerError(f"{path}: unreadable rpm database ({exc})") from None
    finally:
        connection.close()
    return found.packages


def _add_rpm(found: _Counter, blob: bytes, path: str) -> None:
    try:
        tags = parse_rpm_header(blob)
    except (ValueError, struct.error):
        return                   # one damaged header costs one package
    name, version, release = tags.get(RPMTAG_NAME), tags.get(RPMTAG_VERSION), tags.get(RPMTAG_RELEASE)
    if not isinstance(name, str) or not isinstance(version, str) or name.startswith("gpg-pubkey"):
        return
    evr = f"{version}-{release}" if isinstance(release, str) and release else version
    if isinstance(epoch := tags.get(RPMTAG_EPOCH), int):
        evr = f"{epoch}:{evr}"
    source_name, source_version = name, evr
    if isinstance(srpm := tags.get(RPMTAG_SOURCERPM), str) and srpm.endswith(".src.rpm"):
        parts = srpm.removesuffix(".src.rpm").rsplit("-", 2)
        if len(parts) == 3:
            source_name, source_version = parts[0], f"{parts[1]}-{parts[2]}"
    arch, license_ = tags.get(RPMTAG_ARCH), tags.get(RPMTAG_LICENSE)
    found.add(Package("rpm", name, evr, source_name, source_version, path, arch if isinstance(arch, str) else "",
                      (license_,) if isinstance(license_, str) and license_ else ()))


PARSERS: dict[str, Callable[[bytes, str, Limits], list[Package]]] = {
    "dpkg": parse_dpkg,
    "apk": parse_apk,
    "rpm": parse_rpm_sqlite,
    "python": parse_python,
    "npm": parse_npm_package,
    "npm-lock": parse_npm_lock,
}
