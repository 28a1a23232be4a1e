#!/usr/bin/env bash
# The embedded default: gunicorn (the portal and the registry) and one Celery worker with its beat,
# all state under DATA_DIR (default ./var). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATA_DIR="${DATA_DIR:-$PWD/var}"
export PORT="${PORT:-8000}"
mkdir -p "$DATA_DIR"
PY=.venv/bin/python

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0

$PY -m celery -A portal worker --beat --concurrency 1 --loglevel WARNING \
    --schedule "$DATA_DIR/celerybeat-schedule" &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "Wharf on http://127.0.0.1:$PORT (data in $DATA_DIR)"
.venv/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application &
web=$!
trap 'kill $web $worker 2>/dev/null; wait $web $worker 2>/dev/null' EXIT INT TERM
wait $web
