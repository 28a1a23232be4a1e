#!/usr/bin/env bash
# The whole suite, twice: on PostgreSQL and Redis (production's shape), then on SQLite and the filesystem
# broker with make run's settings (the default every new user starts on). Extra arguments go to pytest in
# both passes; TEST_DATABASES="sqlite" (or "postgresql") runs one pass, for a quicker loop on a laptop.
set -euo pipefail
cd "$(dirname "$0")/.."
services=$(scripts/services.sh)   # on its own line, so that a failure stops the run
eval "$services"

# What this run started itself, it stops again; servers that were already running are left alone.
stop_started() {
  for service in ${WHARF_STARTED_SERVICES:-}; do
    case $service in
      postgresql:*) pg_ctlcluster "${service#postgresql:}" main stop >&2 || true ;;
      redis) redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
    esac
  done
}
trap stop_started EXIT

passes=${TEST_DATABASES:-postgresql sqlite}
if [ "${CI:-}" = "true" ]; then
  if [ "$passes" != "postgresql sqlite" ]; then
    echo "CI runs the suite on both databases: TEST_DATABASES must not be set" >&2
    exit 1
  fi
  if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
    echo "CI runs the suite on PostgreSQL and Redis: they are not set and could not be started" >&2
    exit 1
  fi
fi
mkdir -p test-artifacts

status=0
for pass in $passes; do
  started=$SECONDS
  case $pass in
    postgresql)
      if [ -z "${DATABASE_URL:-}" ]; then
        echo "== no PostgreSQL here (run as root to have it installed): the PostgreSQL pass is left out" >&2
        continue
      fi
      echo "== pass: PostgreSQL and Redis"
      .venv/bin/python -m pytest "$@" || status=1 ;;
    sqlite)
      echo "== pass: SQLite and the filesystem broker, as make run has them"
      env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL .venv/bin/python -m pytest "$@" || status=1 ;;
    *)
      echo "unknown pass '$pass' in TEST_DATABASES (postgresql, sqlite)" >&2
      exit 2 ;;
  esac
  echo "== $pass pass: $((SECONDS - started)) s"
done
exit $status
