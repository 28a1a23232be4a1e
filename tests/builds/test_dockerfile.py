"""Dockerfiles that ask a build worker for what it must not give: refused before podman runs them (one of them,
RUN --mount through a link, reads the worker's own files with this host's podman: CVE-2024-1753)."""

from __future__ import annotations

import pytest

from builds.dockerfile import instructions, problems

ESCAPE = """FROM scratch AS link
COPY busybox /bin/busybox
RUN ["/bin/busybox", "ln", "-s", "../../../../../../", "/rootlink"]
FROM scratch
RUN --mount=type=bind,from=link,source=/rootlink,target=/host ["/bin/busybox", "cat", "/host/etc/shadow"]
"""


@pytest.mark.parametrize("text, says", [
    (ESCAPE, "line 5: RUN --mount is refused"),
    ("FROM scratch\nrun --mount=type=cache,target=/c echo\n", "RUN --mount is refused"),
    ("FROM scratch\nRUN \\\n  --mount=type=bind,source=/,target=/h \\\n  echo hi\n", "line 2: RUN --mount"),
    ("# escape=`\nFROM scratch\nRUN `\n --mount=type=bind,target=/h echo\n", "line 3: RUN --mount"),
    ("FROM scratch\nRUN --network=host wget http://10.0.0.1/\n", "RUN --network is refused"),
    ("FROM scratch\nRUN --security=insecure echo\n", "RUN --security is refused"),
    ("FROM scratch\nADD http://169.254.169.254/latest/meta-data/ /m\n", "ADD of a URL needs the network"),
    ('FROM scratch\nADD ["https://example.com/x.tar", "/x"]\n', "ADD of a URL"),
    ("FROM scratch\nADD --chown=1 git@github.com:a/b.git /src\n", "ADD of a URL"),
])
def test_a_dockerfile_that_asks_too_much_is_refused_with_the_line(text: str, says: str) -> None:
    found = problems(text, network=False)
    assert found and says in found[0], found


@pytest.mark.parametrize("text", [
    "FROM scratch\nCOPY . /app\nRUN echo --mount=type=bind is only text here\n",
    "FROM scratch\n# RUN --mount=type=bind,source=/,target=/h\nADD local.tar /x\n",
    'FROM scratch\nRUN ["/bin/busybox", "echo", "--network=host"]\n',
])
def test_ordinary_dockerfiles_pass(text: str) -> None:
    assert problems(text, network=False) == []


def test_a_build_with_network_may_add_a_url() -> None:
    assert problems("FROM scratch\nADD https://example.com/x.tar /x\n", network=True) == []


def test_continuations_and_comments_read_as_the_builder_reads_them() -> None:
    parsed = instructions("FROM scratch\n\nRUN a \\\n# a comment\n  b\nCOPY x y")
    assert [(i.line, i.keyword, i.arguments) for i in parsed] == [
        (1, "FROM", "scratch"), (3, "RUN", "a b"), (6, "COPY", "x y")]
