#!/usr/bin/env bash
# The whole suite on PostgreSQL and Redis, with the real container tools. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
services=$(scripts/services.sh)   # on its own line, so that a failure stops the run
eval "$services"
if [ "${CI:-}" = "true" ] && [ -z "${DATABASE_URL:-}" ]; then
  echo "CI runs the suite on PostgreSQL: DATABASE_URL is not set and PostgreSQL could not be started" >&2
  exit 1
fi
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
