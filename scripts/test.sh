#!/usr/bin/env bash
# The whole suite on PostgreSQL and Redis, with the real container tools. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh)"
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
