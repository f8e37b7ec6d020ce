#!/usr/bin/env bash
# The embedded mode: SpatiaLite under var/, a Celery worker on the filesystem broker, and the
# web app at http://127.0.0.1:8000 — no database or broker server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONUNBUFFERED=1
$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
$PY manage.py ensure_demo_user
mkdir -p var/log
$PY -m celery -A config worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
worker=$!
$PY -m celery -A config beat --loglevel=INFO >var/log/beat.log 2>&1 &
beat=$!
trap 'kill $worker $beat 2>/dev/null; wait' EXIT INT TERM
echo "Celery worker and beat started (logs in var/log/). Web app: http://127.0.0.1:${PORT:-8000}/admin/ — Ctrl-C stops all."
$PY manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
