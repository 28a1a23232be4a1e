"""A PostgreSQL database of a bench's own, next to the one DATABASE_URL names: `create` prints its URL, `drop`
removes it (with any connections left). Used by scripts/bench.sh and bench/nodesbench.py.

  url=$(.venv/bin/python bench/scratchdb.py create "$DATABASE_URL" gcbench)
  .venv/bin/python bench/scratchdb.py drop "$url"
"""

from __future__ import annotations

import secrets
import sys

import psycopg
from psycopg import sql


def create(server: str, purpose: str) -> str:
    if not server.startswith("postgres"):
        sys.exit("a scratch database needs PostgreSQL: DATABASE_URL=postgresql://… (scripts/services.sh exports one)")
    name = f"wharf_{purpose}_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server.rpartition('/')[0]}/{name}"


def drop(url: str) -> None:
    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["create"]:
        print(create(sys.argv[2], sys.argv[3]))
    elif sys.argv[1:2] == ["drop"]:
        drop(sys.argv[2])
    else:
        sys.exit(__doc__)
