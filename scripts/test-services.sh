#!/usr/bin/env bash
# Start (or stop) a throwaway PostGIS cluster and Redis for the test suite, under var/test/.
#   scripts/test-services.sh start   -> prints export lines for DATABASE_URL and CELERY_BROKER_URL
#   scripts/test-services.sh stop
# Services already named by DATABASE_URL / CELERY_BROKER_URL are used as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
# Outside the checkout: the postgres user must reach it whatever the clone's permissions are.
DIR="${TMPDIR:-/tmp}/gridtwin-test-${TEST_PG_PORT:-55432}"
PG_PORT=${TEST_PG_PORT:-55432}
REDIS_PORT=${TEST_REDIS_PORT:-56379}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_pg() {
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    as_postgres "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 >"$DIR/initdb.log"
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w start \
      -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
  fi
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname='gridtwin'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE gridtwin"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d gridtwin -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  echo "export DATABASE_URL=postgis://postgres@127.0.0.1:$PG_PORT/gridtwin"
}

start_redis() {
  mkdir -p "$DIR"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

case "${1:-}" in
  start)
    [ -n "${DATABASE_URL:-}" ] && echo "export DATABASE_URL=$DATABASE_URL" || start_pg
    [ -n "${CELERY_BROKER_URL:-}" ] && echo "export CELERY_BROKER_URL=$CELERY_BROKER_URL" || start_redis
    ;;
  stop)
    [ -f "$DIR/pg/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
