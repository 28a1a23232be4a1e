#!/usr/bin/env bash
# The scaled-out storage, measured: Wharf with WHARF_STORAGE_BACKEND=s3 and the reference registry (Debian's
# docker-registry, with its own S3 driver) against the same S3 API server (moto's, on loopback) in the same run:
# 256 MiB blob push (monolithic and chunked) and pull, and 8 concurrent pushes (regbench tests a, b, e). Then a
# pull redirected to a presigned URL against one streamed through Wharf (WHARF_S3_REDIRECT=0). Called by
# `make bench` (SKIP_S3BENCH=1 skips it); extra arguments go to regbench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REGBENCH=${REGBENCH:-$ROOT/../shared/bench/regbench.py}
WHARF_PORT=${WHARF_PORT:-18010}
DIST_PORT=${DIST_PORT:-18011}
S3_PORT=${S3_PORT:-18012}
work=$(mktemp -d /tmp/wharf-s3bench.XXXXXX)
mkdir -p "$ROOT/bench/results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
setsid .venv/bin/moto_server -H 127.0.0.1 -p "$S3_PORT" >"$work/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && break; sleep 0.1; done
.venv/bin/python - "$S3_PORT" <<'PY'
import sys

import boto3

s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
for bucket in ("wharf", "distribution"):
    s3.create_bucket(Bucket=bucket)
PY

start_wharf() {   # start_wharf REDIRECT: a fresh Wharf on the bucket; sets server_pids
  local redirect=$1
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  rm -rf "$work/wharf" && mkdir -p "$work/wharf"
  DATA_DIR=$work/wharf PORT=$WHARF_PORT WHARF_SITE_URL=http://127.0.0.1:$WHARF_PORT \
    WHARF_STORAGE_BACKEND=s3 WHARF_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT WHARF_S3_BUCKET=wharf \
    WHARF_S3_PREFIX="run-$RANDOM/" WHARF_S3_REGION=us-east-1 WHARF_S3_ADDRESSING_STYLE=path \
    WHARF_S3_REDIRECT=$redirect \
    env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL setsid scripts/run.sh >"$work/wharf-$redirect.log" 2>&1 &
  wharf_pid=$!
  pids+=($wharf_pid)
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$WHARF_PORT/v2/" && break; sleep 0.2; done
  DATA_DIR=$work/wharf DJANGO_SUPERUSER_PASSWORD=$password env -u DATABASE_URL .venv/bin/python manage.py \
    createsuperuser --noinput --username regbench --email regbench@example.com >/dev/null
  server_pids=$(pgrep -d, -f "gunicorn -c portal/gunicorn.conf.py" -s "$wharf_pid" || true)
}

stop_wharf() {
  kill -- -"$wharf_pid" 2>/dev/null || true
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$WHARF_PORT/v2/" || break; sleep 0.1; done
}

compare=()
if command -v docker-registry >/dev/null; then
  cat >"$work/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  s3: {accesskey: bench, secretkey: bench, region: us-east-1, regionendpoint: "http://127.0.0.1:$S3_PORT",
       bucket: distribution, secure: false, v4auth: true}
  delete: {enabled: true}
  redirect: {disable: false}
http: {addr: 127.0.0.1:$DIST_PORT}
YAML
  # Its AWS SDK (v1) cannot load a custom CA bundle with its own transport and panics when AWS_CA_BUNDLE is set
  # (some machines set it for every tool); the endpoint here is plain HTTP, so it needs none.
  env -u AWS_CA_BUNDLE setsid docker-registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
  pids+=($!)
  dist_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$DIST_PORT/v2/" && break; sleep 0.1; done
  compare=(--compare "http://127.0.0.1:$DIST_PORT" --compare-label distribution-s3 --compare-server-pid "$dist_pid")
else
  echo "docker-registry is not installed (apt-get install docker-registry): measuring Wharf alone" >&2
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "== S3 (moto on loopback): Wharf (presigned redirects) and distribution, side by side"
start_wharf 1
python3 "$REGBENCH" --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password" \
    --label wharf-s3 --server-pid "$server_pids" "${compare[@]}" --only a,b,e \
    --json "$ROOT/bench/results/regbench-s3-$stamp.json" "$@"
stop_wharf

echo "== pull streamed through Wharf (WHARF_S3_REDIRECT=0) against the redirected pull above"
start_wharf 0
python3 "$REGBENCH" --url "http://127.0.0.1:$WHARF_PORT" --user regbench --password "$password" \
    --label wharf-s3-streamed --server-pid "$server_pids" --only b \
    --json "$ROOT/bench/results/regbench-s3-streamed-$stamp.json" "$@"
stop_wharf
