"""What one web node and two web nodes behind nginx sustain for manifest GETs, on PostgreSQL, Redis and an S3 bucket
(moto's): regbench's small-request test (c) against one node directly, then against the proxy in front of two.

Run by scripts/bench.sh (SKIP_NODESBENCH=1 skips it); needs PostgreSQL (DATABASE_URL, as scripts/services.sh
exports it) and nginx. It makes a database of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from bench.scratchdb import create, drop  # noqa: E402
from tests.clients.nodes import cluster  # noqa: E402

# As a deployment runs them (the tests' nodes close their database connection after each request, so that the
# test database can be dropped; each new PostgreSQL connection costs a SCRAM handshake, ~5 ms of CPU here).
PRODUCTION = {"DATABASE_CONN_MAX_AGE": "600"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regbench", required=True)
    parser.add_argument("--json-prefix", required=True, help="results go to PREFIX-one.json and PREFIX-two.json")
    parser.add_argument("regbench_args", nargs="*")
    args = parser.parse_args()
    database = create(os.environ.get("DATABASE_URL", ""), "nodesbench")
    try:
        env = {**os.environ, "DATABASE_URL": database}
        password = secrets.token_urlsafe(18)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "regbench",
                        "--email", "regbench@example.com"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**env, "DJANGO_SUPERUSER_PASSWORD": password})
        with (tempfile.TemporaryDirectory(prefix="wharf-nodesbench-") as work,
              cluster(Path(work), 2, database, PRODUCTION) as up):
            for label, url in (("one", up.nodes[0].url), ("two", up.proxy_url)):
                print(f"== manifest GETs: {label} node(s)", flush=True)
                subprocess.run([sys.executable, args.regbench, "--url", url, "--user", "regbench", "--password",
                                password, "--label", f"wharf-{label}-node", "--only", "c",
                                "--json", f"{args.json_prefix}-{label}.json", *args.regbench_args], check=False)
    finally:
        drop(database)


if __name__ == "__main__":
    main()
