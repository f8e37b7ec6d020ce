#!/usr/bin/env bash
# The embedded mode: SpatiaLite under var/, a Celery worker and beat on the filesystem broker, and
# the web app at http://127.0.0.1:8000 — no database or broker server needed. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
VAR="${GRIDTWIN_VAR_DIR:-var}"
export PYTHONUNBUFFERED=1
$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
$PY manage.py ensure_demo_user
mkdir -p "$VAR/log"
$PY manage.py load_demo >"$VAR/log/demo-import.log"
echo "Demo region: Liechtenstein, © OpenStreetMap contributors, ODbL (import report in $VAR/log/demo-import.log)"
$PY -m celery -A config worker --loglevel=INFO --concurrency=2 >"$VAR/log/worker.log" 2>&1 &
worker=$!
$PY -m celery -A config beat --loglevel=INFO >"$VAR/log/beat.log" 2>&1 &
beat=$!
$PY manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload &
web=$!
# Signal each main process only: Celery's pool children must be stopped by their parent.
stop() { trap - INT TERM EXIT; kill -TERM "$web" "$worker" "$beat" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
echo "Celery worker and beat started (logs in $VAR/log/). Web app: http://127.0.0.1:${PORT:-8000}/admin/ — Ctrl-C stops all."
wait "$web"
