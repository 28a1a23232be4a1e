"""An image's packages from its layers' indexes: whiteouts and opaque directories applied bottom to top, the
topmost version of each package file winning, each package attributed to the layer that added it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from scanning.layers import LayerIndex, PackageFile
from scanning.packages import OS_RELEASE_PATHS, Package


@dataclass
class Inventory:
    os_release: dict[str, str] = field(default_factory=dict)
    packages: list[Package] = field(default_factory=list)

    @property
    def os_packages(self) -> list[Package]:
        return [package for package in self.packages if package.is_os_package]

    @property
    def language_packages(self) -> list[Package]:
        return [package for package in self.packages if not package.is_os_package]

    def to_json(self) -> dict[str, Any]:
        return {"os_release": self.os_release, "packages": [package.to_dict() for package in self.packages]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        return cls(dict(data["os_release"]), [Package.from_dict(package) for package in data["packages"]])


@dataclass
class _Present:
    """One package file as the layers so far leave it, with the layer that added each of its packages."""

    file: PackageFile
    added_in: dict[tuple[str, str], str]


def compose(layers: list[tuple[str, LayerIndex]]) -> Inventory:
    """Layers bottom to top, as (digest, index)."""
    present: dict[str, _Present] = {}
    os_release: dict[str, dict[str, str]] = {}
    for digest, index in layers:
        for tracked in (present, os_release):
            _hide(tracked, index)
        for path, package_file in index.files.items():
            below = present.get(path)
            added_in = {
                key: below.added_in[key] if below and key in below.added_in else digest
                for key in ((package.name, package.version) for package in package_file.packages)
            }
            present[path] = _Present(package_file, added_in)
        os_release.update(index.os_release_files)
    return Inventory(_os_release(os_release), _packages(present))


def _hide(tracked: dict[str, Any], index: LayerIndex) -> None:
    """What this layer removes from the ones below: whiteouts (the path and all under it), opaque
    directories (all under them), and links put where a package file was."""
    gone = {*index.whiteouts, *index.links}
    hidden_dirs = {*index.whiteouts, *index.opaque_dirs}
    for path in list(tracked):
        if path in gone or any(parent in hidden_dirs for parent in _parents(path)):
            del tracked[path]


def _parents(path: str) -> list[str]:
    """"a/b/c" → ["", "a", "a/b"]: the root too, which an opaque marker at the top of a layer hides."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(len(parts))]


def _os_release(files: dict[str, dict[str, str]]) -> dict[str, str]:
    for path in OS_RELEASE_PATHS:
        if path in files:
            return files[path]
    return {}


def _packages(present: dict[str, _Present]) -> list[Package]:
    """Every package once per file; a language package listed by two files (an installed package.json and
    a lock file) is reported once, from the file that comes first by path."""
    packages: list[Package] = []
    seen: set[tuple[str, str, str]] = set()
    for path in sorted(present):
        entry = present[path]
        for package in entry.file.packages:
            key = (package.kind, package.name, package.version)
            if not package.is_os_package:
                if key in seen:
                    continue
                seen.add(key)
            packages.append(replace(package, layer=entry.added_in[(package.name, package.version)]))
    return packages
