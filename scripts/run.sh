#!/usr/bin/env bash
# The embedded default: gunicorn (the portal and the registry), one Celery worker and its beat, all state
# under DATA_DIR (default ./var). The worker and the beat are supervised: one that dies is started again
# after a short backoff (logged). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATA_DIR="${DATA_DIR:-$PWD/var}"
export PORT="${PORT:-8000}"
mkdir -p "$DATA_DIR"
PY=.venv/bin/python

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0

# supervise NAME COMMAND...: run COMMAND, and again whenever it exits, waiting 1, 2, 4 … 30 s in between
# (back to 1 s after a run of a minute or more). TERM or INT stops the command and the loop.
supervise() {
    local name=$1 delay=1 child="" started status
    shift
    trap '[[ -n $child ]] && kill -TERM "$child" 2>/dev/null; [[ -n $child ]] && wait "$child" 2>/dev/null; exit 0' TERM INT
    while true; do
        started=$SECONDS
        "$@" &
        child=$!
        status=0
        wait "$child" || status=$?
        child=""
        (( SECONDS - started >= 60 )) && delay=1
        echo "run.sh: the $name exited with status $status; restarting it in ${delay}s" >&2
        sleep "$delay" & wait $! || true
        delay=$(( delay * 2 > 30 ? 30 : delay * 2 ))
    done
}

supervise "Celery worker" $PY -m celery -A portal worker -Q default,scans --concurrency 1 --loglevel WARNING \
    -n "default@%h" &
worker=$!
# Builds get a worker of their own, so that an hour-long build never holds up tag expiry or the reaper.
command -v podman >/dev/null || echo "podman is not installed: builds will fail until it is (apt-get install podman)" >&2
supervise "Celery build worker" $PY -m celery -A portal worker -Q builds --concurrency 1 --loglevel WARNING \
    -n "builds@%h" &
builder=$!
supervise "Celery beat" $PY -m celery -A portal beat --loglevel WARNING \
    --schedule "$DATA_DIR/celerybeat-schedule" &
beat=$!
trap 'kill $worker $builder $beat 2>/dev/null; wait $worker $builder $beat 2>/dev/null' EXIT INT TERM

echo "Wharf on http://127.0.0.1:$PORT (data in $DATA_DIR)"
.venv/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application &
web=$!
trap 'kill $web $worker $builder $beat 2>/dev/null; wait $web $worker $builder $beat 2>/dev/null' EXIT INT TERM
wait $web
