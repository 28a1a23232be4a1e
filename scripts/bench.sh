#!/usr/bin/env bash
# `make bench`: ../shared/bench/regbench.py against Wharf as `make run` starts it (fresh DATA_DIR) and,
# when Debian's docker-registry (the CNCF distribution registry) is installed, against it in the same run.
# Extra arguments go to regbench.py (e.g. `make bench ARGS="--only a,b --repeat 1"`). Then what each credential
# costs, normal requests beside 2,000 idle connections (SKIP_IDLEBENCH=1 skips it), a web worker's memory
# around a 1 GiB blob (SKIP_MEMPROBE=1 skips it), the tags page and API at 100,000 tags (SKIP_TAGSBENCH=1
# skips it), then the scaled-out shape: Wharf and distribution on the same S3 API server (scripts/bench-s3.sh;
# SKIP_S3BENCH=1) and manifest GETs on one node against two behind nginx, on PostgreSQL (bench/nodesbench.py;
# SKIP_NODESBENCH=1), and garbage collection over 100,000 blobs on PostgreSQL (bench/gcbench.py; SKIP_GCBENCH=1).
# Builds (bench/buildbench.py; SKIP_BUILDBENCH=1) run on the first server's own build worker. Notifications
# (bench/notifybench.py; SKIP_NOTIFYBENCH=1): a push's latency with 10 notifications and without, and 1,000
# webhook deliveries to a local receiver, on PostgreSQL. The scanner's speed (bench/scanbench.py;
# SKIP_SCANBENCH=1): a 300 MB layer indexed beside gzip -d, 500 packages matched against 100,000 advisories,
# 1,000 inventories re-matched after an import; on SQLite, then PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REGBENCH=${REGBENCH:-$ROOT/../shared/bench/regbench.py}
WHARF_PORT=${WHARF_PORT:-18000}
DIST_PORT=${DIST_PORT:-18001}
work=$(mktemp -d /tmp/wharf-bench.XXXXXX)
mkdir -p "$ROOT/bench/results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export DATA_DIR=$work/wharf PORT=$WHARF_PORT WHARF_SERVER_TIMING=1 WHARF_SITE_URL=http://127.0.0.1:$WHARF_PORT
# The build bench's git repository is a local one (file://), as in the tests; and its 100 timed deliveries
# each queue a build the bench cancels, so the namespace's queue cap must let them in.
export WHARF_BUILD_ALLOW_FILE_URLS=1 WHARF_BUILD_QUEUE_LIMIT=200
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS
setsid scripts/run.sh >"$work/wharf.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$WHARF_PORT/v2/" && break; sleep 0.2; done
DJANGO_SUPERUSER_PASSWORD=$password .venv/bin/python manage.py createsuperuser --noinput \
    --username regbench --email regbench@example.com >/dev/null
# Steady state: each web worker has checked the bench user's password once (bcrypt, ~250 ms by design)
# and remembers it; a cold worker would charge that to whichever test fetches the first token.
warm=()
for _ in $(seq 8); do
  curl -s -o /dev/null -u "regbench:$password" "http://127.0.0.1:$WHARF_PORT/v2/auth?service=wharf" &
  warm+=($!)
done
wait "${warm[@]}"
server_pids=$(pgrep -d, -f "gunicorn -c portal/gunicorn.conf.py" -s "${pids[0]}" || true)

compare=()
if command -v docker-registry >/dev/null; then
  mkdir -p "$work/dist"
  cat >"$work/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/dist}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$DIST_PORT}
YAML
  setsid docker-registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$DIST_PORT/v2/" && break; sleep 0.1; done
  compare=(--compare "http://127.0.0.1:$DIST_PORT" --compare-label distribution --compare-server-pid "${pids[1]}")
else
  echo "docker-registry is not installed (apt-get install docker-registry): measuring Wharf alone" >&2
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
python3 "$REGBENCH" --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password" \
    --label wharf --server-pid "$server_pids" "${compare[@]}" \
    --json "$ROOT/bench/results/regbench-$stamp.json" "$@"

# What each kind of credential costs (password, API token, robot token) at the token endpoint and the API.
python3 bench/authbench.py --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password"

# Builds: the webhook's answer, webhook to a running build, a trivial build pushed and tagged (cold, then with the
# layer cache) and a burst of duplicated deliveries, on the same server and its build worker. SKIP_BUILDBENCH=1.
if [ -z "${SKIP_BUILDBENCH:-}" ]; then
  .venv/bin/python bench/buildbench.py --url "http://127.0.0.1:$WHARF_PORT" \
      --json "$ROOT/bench/results/buildbench-$stamp.json"
fi

# Normal requests while 2,000 connections send nothing and 100 send their headers a byte a second (a slow
# client must not hold a thread): p50/p99 beside the same requests alone. SKIP_IDLEBENCH=1 skips it.
if [ -z "${SKIP_IDLEBENCH:-}" ]; then
  python3 bench/idlebench.py --url "http://127.0.0.1:$WHARF_PORT"
fi

# Bytes stream: a web worker's memory stays flat while a 1 GiB blob goes in and out.
if [ -z "${SKIP_MEMPROBE:-}" ]; then
  python3 bench/memprobe.py --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password" \
      --pids "$server_pids" --mib "${MEMPROBE_MIB:-1024}"
fi

# The tags page and API of a repository with 100,000 tags: server time (Server-Timing) and client time. The
# tags go into the running server's database (SQLite's WAL lets them) after the measurements above, which
# they would otherwise change; tagsbench exits 1 if a median misses its target.
if [ -z "${SKIP_TAGSBENCH:-}" ]; then
  .venv/bin/python bench/seed_tags.py --user regbench --json "$work/tags-seed.json"
  python3 bench/tagsbench.py --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password" \
      --seed "$work/tags-seed.json" --json "$ROOT/bench/results/tagsbench-$stamp.json"
fi

if [ -z "${SKIP_S3BENCH:-}" ]; then
  REGBENCH=$REGBENCH scripts/bench-s3.sh "$@"
fi

if [ -z "${SKIP_NODESBENCH:-}" ]; then
  (
    eval "$(scripts/services.sh)"
    .venv/bin/python bench/nodesbench.py --regbench "$REGBENCH" --json-prefix "$ROOT/bench/results/nodes-$stamp" \
        -- "$@"
  )
fi

if [ -z "${SKIP_GCBENCH:-}" ]; then
  (
    eval "$(scripts/services.sh)"
    scratch=$(.venv/bin/python bench/scratchdb.py create "$DATABASE_URL" gcbench)
    gc_data=$(mktemp -d /tmp/wharf-gcbench.XXXXXX)
    trap '.venv/bin/python bench/scratchdb.py drop "$scratch"; rm -rf "$gc_data"' EXIT
    DATABASE_URL=$scratch DATA_DIR=$gc_data .venv/bin/python bench/gcbench.py --blobs "${GCBENCH_BLOBS:-100000}"
  )
fi

if [ -z "${SKIP_NOTIFYBENCH:-}" ]; then
  (
    eval "$(scripts/services.sh)"
    # The embedded broker in the bench's DATA_DIR: nothing consumes the pushes' messages, and they must not
    # reach a shared Redis.
    unset REDIS_URL CELERY_BROKER_URL
    scratch=$(.venv/bin/python bench/scratchdb.py create "$DATABASE_URL" notifybench)
    notify_data=$(mktemp -d /tmp/wharf-notifybench.XXXXXX)
    trap '.venv/bin/python bench/scratchdb.py drop "$scratch"; rm -rf "$notify_data"' EXIT
    DATABASE_URL=$scratch DATA_DIR=$notify_data .venv/bin/python bench/notifybench.py \
        --json "$ROOT/bench/results/notifybench-$stamp.json"
  )
fi

if [ -z "${SKIP_SCANBENCH:-}" ]; then
  (
    scan_data=$(mktemp -d /tmp/wharf-scanbench.XXXXXX)
    trap 'rm -rf "$scan_data"' EXIT
    DATA_DIR=$scan_data .venv/bin/python bench/scanbench.py --json "$ROOT/bench/results/scanbench-$stamp.json"
    eval "$(scripts/services.sh)"
    scratch=$(.venv/bin/python bench/scratchdb.py create "$DATABASE_URL" scanbench)
    trap '.venv/bin/python bench/scratchdb.py drop "$scratch"; rm -rf "$scan_data"' EXIT
    DATABASE_URL=$scratch DATA_DIR=$scan_data .venv/bin/python bench/scanbench.py --skip-layer \
        --json "$ROOT/bench/results/scanbench-$stamp-postgresql.json"
  )
fi
