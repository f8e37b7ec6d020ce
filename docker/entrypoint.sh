#!/bin/sh
# GridTwin container entry point.
#   gridtwin-entrypoint --migrate gunicorn config.wsgi:application ...   (web: migrate, then serve)
#   gridtwin-entrypoint celery -A config worker ...                       (anything else: as given)
# Only the web service migrates, so the worker and beat never race it for the schema.
set -eu

if [ "${1:-}" = "--migrate" ]; then
  shift
  python manage.py migrate --noinput
fi

exec "$@"
