#!/usr/bin/env bash
# The whole test suite: the embedded smoke suite (SpatiaLite + filesystem broker) beside the main
# suite on PostGIS with job tests on a real Celery worker over Redis (independent: they run at
# the same time, the embedded one's output shown when it ends), then the documentation's strict
# build. Starts a throwaway PostGIS and Redis unless DATABASE_URL / CELERY_BROKER_URL name
# running ones.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest -p no:cacheprovider "$@")

started_here=0
[ -z "${DATABASE_URL:-}${CELERY_BROKER_URL:-}" ] && started_here=1
eval "$(scripts/test-services.sh start)" || { echo "could not start test services" >&2; exit 1; }
embedded_pid=""
cleanup() {
  [ -n "$embedded_pid" ] && kill -- -"$embedded_pid" 2>/dev/null
  [ "$started_here" = 1 ] && scripts/test-services.sh stop
}
trap cleanup EXIT

embedded_dir=$(mktemp -d)
echo "== embedded smoke suite (SpatiaLite, serverless broker): started, its output follows the main suite's"
# Job control on for this one background job: without it a script's background commands ignore
# SIGINT, and so would the `make run` that the embedded suite starts and stops with Ctrl-C.
set -m
env -u CELERY_BROKER_URL GRIDTWIN_VAR_DIR="$embedded_dir/var" \
  DATABASE_URL="spatialite:///$embedded_dir/gridtwin.sqlite3" \
  "${PYTEST[@]}" -q -m embedded >"$embedded_dir/output.log" 2>&1 &
embedded_pid=$!
set +m

echo "== main suite (PostGIS, Redis, real Celery workers)"
"${PYTEST[@]}"
main_rc=$?

wait "$embedded_pid"
embedded_rc=$?
embedded_pid=""
echo "== embedded smoke suite (SpatiaLite, serverless broker)"
cat "$embedded_dir/output.log"
rm -rf "$embedded_dir"

# After the main suite, whose browser tests refresh the screenshots in docs/img/: a broken
# link, anchor, include or navigation entry fails the build.
echo "== documentation (mkdocs build --strict)"
docs_dir=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$docs_dir"
docs_rc=$?
rm -rf "$docs_dir"

if [ "$embedded_rc" != 0 ]; then echo "embedded smoke suite failed (exit $embedded_rc)" >&2; fi
if [ "$docs_rc" != 0 ]; then echo "documentation build failed (exit $docs_rc)" >&2; fi
[ "$embedded_rc" != 0 ] && exit "$embedded_rc"
[ "$main_rc" != 0 ] && exit "$main_rc"
exit "$docs_rc"
