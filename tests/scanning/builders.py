"""Layers and package databases written by the tests: tar layers built in memory, realistic database texts,
and an rpm sqlite database made by Debian's own rpm and rpmbuild."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import zstandard

MiB = 1024 * 1024

DEBIAN_OS_RELEASE = b'''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
'''

DPKG_STATUS = b"""Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6160
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u1
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL and
 TLS cryptographic protocols for secure communication over the Internet.
 .
 It provides the libssl and libcrypto shared libraries.
Homepage: https://www.openssl.org/

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.  This package includes the shared library.
Homepage: http://zlib.net/

Package: libnettle8
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 500
Maintainer: Magnus Holmgren <holmgren@debian.org>
Architecture: amd64
Multi-Arch: same
Source: nettle (3.8.1-2)
Version: 3.8.1-2+b1
Depends: libc6 (>= 2.17)
Description: low level cryptographic library (symmetric and one-way cryptos)

Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u2
Replaces: base
Provides: base
Conffiles:
 /etc/debian_version 6ee1a9d8e6b1b1c2d8d5ad3b0b1c2d3e
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
Description: Debian base system miscellaneous files

Package: libssl1.1
Status: deinstall ok config-files
Priority: optional
Section: libs
Installed-Size: 4122
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Source: openssl
Version: 1.1.1n-0+deb11u5
Description: Secure Sockets Layer toolkit - shared libraries
"""

DISTROLESS_BASE_FILES = b"""Package: base-files
Version: 12.4+deb12u5
Architecture: amd64
Maintainer: Santiago Vila <sanvila@debian.org>
Installed-Size: 340
Section: admin
Priority: required
Description: Debian base system miscellaneous files
"""

DISTROLESS_LIBSSL = b"""Package: libssl3
Version: 3.0.11-1~deb12u2
Architecture: amd64
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Installed-Size: 6160
Depends: libc6 (>= 2.34)
Section: libs
Priority: optional
Multi-Arch: same
Homepage: https://www.openssl.org/
Description: Secure Sockets Layer toolkit - shared libraries
Source: openssl
"""

ALPINE_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.18.4
PRETTY_NAME="Alpine Linux v3.18"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

APK_INSTALLED = b"""C:Q1bFVd8WPmpCVdnp0IaDH3zyGBBJc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Ter\xc3\xa4s <timo.teras@iki.fi>
t:1696875026
c:3e2bc08e8e4a4a8ad5a1e7a7cb2a4d0fb1d0e0a1
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1Rj3tYvm3XyzGQWdaIvuVxZ8VtTY=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1Z3SiKQ6GkSbdrkRIa5bmbn8hjwA=
P:libssl3
V:3.1.4-r0
A:x86_64
S:235830
I:557056
T:SSL shared libraries
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1698163813
c:6b8ce6a1b5ec9bd3d5d1dcbb0d0ab0f6c6b6d5b8
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3
p:so:libssl.so.3=3
r:libressl
F:lib
R:libssl.so.3
a:0:0:755
Z:Q1lJRQ+Y1pF0TMHl1hZ2Q9Uqzg5Xk=

C:Q1pmMKOgxDNx1D3Ax7OrTyxQh2V0A=
P:openssl
V:3.1.4-r0
A:x86_64
S:356203
I:913408
T:Toolkit for Transport Layer Security (TLS)
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1698163813
c:6b8ce6a1b5ec9bd3d5d1dcbb0d0ab0f6c6b6d5b8
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libssl.so.3
"""

REQUESTS_METADATA = b"""Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache 2.0
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer (<4,>=2)

# Requests

Version: 9.9.9 in the description is not a header
"""

LODASH_PACKAGE = json.dumps({"name": "lodash", "version": "4.17.15", "license": "MIT",
                             "main": "lodash.js", "description": "Lodash modular utilities."}).encode()

PACKAGE_LOCK_V3 = json.dumps({
    "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
    "packages": {
        "": {"name": "app", "version": "1.0.0", "dependencies": {"lodash": "4.17.15", "express": "^4.18.2"}},
        "node_modules/lodash": {"version": "4.17.15", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.15.tgz",
                                "license": "MIT"},
        "node_modules/express": {"version": "4.18.2", "license": "MIT"},
        "node_modules/express/node_modules/debug": {"version": "2.6.9", "license": "MIT"},
        "node_modules/@types/node": {"version": "20.8.10", "dev": True},
        "node_modules/local-lib": {"resolved": "packages/local-lib", "link": True},
    },
}).encode()

PACKAGE_LOCK_V1 = json.dumps({
    "name": "old-app", "version": "1.0.0", "lockfileVersion": 1,
    "dependencies": {
        "minimist": {"version": "1.2.5", "integrity": "sha512-x"},
        "mkdirp": {"version": "0.5.5", "dependencies": {"minimist": {"version": "1.2.0"}}},
        "mocha": {"version": "10.2.0", "dev": True},
    },
}).encode()


def tar_bytes(entries: list[tarfile.TarInfo | tuple[str, bytes]], format: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of (path, content) files and ready-made TarInfo entries (links, dirs), in this order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=format) as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                archive.addfile(info, io.BytesIO(entry[1]))
    return out.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        import gzip
        return gzip.compress(data, compresslevel=6)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def layer(entries: list[tarfile.TarInfo | tuple[str, bytes]], compression: str = "gzip") -> io.BytesIO:
    return io.BytesIO(compress(tar_bytes(entries), compression))


def symlink(path: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def gzip_bomb(gib: int = 1) -> bytes:
    """A valid gzip (about 1 MB) of a tar holding one file of `gib` GiB of zeros. Deflate blocks ended by a
    full flush do not depend on what came before, so one compressed MiB of zeros is repeated."""
    size = gib * 1024 * MiB
    head = tarfile.TarInfo("var/cache/zeros.bin")
    head.size = size
    header = head.tobuf(format=tarfile.GNU_FORMAT)
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(header + zeros[len(header):]) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats = size // MiB - 1
    tail = bytes(len(header) + 1024)              # the rest of the file, then the end-of-archive blocks
    last = compressor.compress(tail) + compressor.flush()
    crc = zlib.crc32(header + zeros[len(header):])
    for _ in range(repeats):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(tail, crc)
    total = MiB + repeats * MiB + len(tail)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + first + middle * repeats + last
            + struct.pack("<II", crc, total & 0xFFFFFFFF))


RPM_SPEC = """Name: openssl
Version: 3.0.7
Release: 24.el9
Epoch: 1
Summary: Utilities from the general purpose cryptography library with TLS implementation
License: ASL 2.0
BuildArch: noarch
%description
OpenSSL.
%package libs
Summary: A general purpose cryptography library with TLS implementation
License: ASL 2.0
%description libs
libs
%files libs

%changelog
"""

BASH_SPEC = """Name: bash
Version: 5.1.8
Release: 6.el9
Summary: The GNU Bourne Again shell
License: GPLv3+
BuildArch: noarch
%description
bash
%files
"""


def rpm_database(workdir: Path) -> bytes:
    """rpmdb.sqlite with openssl-libs 1:3.0.7-24.el9 (from source openssl) and bash 5.1.8-6.el9, made by
    rpmbuild and `rpm --dbpath … --justdb`, as the issue asks."""
    top, db = workdir / "rpmbuild", workdir / "rpmdb"
    db.mkdir(parents=True)
    for name, spec in (("openssl", RPM_SPEC), ("bash", BASH_SPEC)):
        spec_file = workdir / f"{name}.spec"
        spec_file.write_text(spec)
        subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec_file)], check=True,
                       capture_output=True, timeout=60)
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], check=True, capture_output=True, timeout=60)
    rpms = sorted(str(path) for path in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(["rpm", "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos",
                    "--noscripts", *rpms], check=True, capture_output=True, timeout=60)
    return (db / "rpmdb.sqlite").read_bytes()
