#!/usr/bin/env bash
# Install what GridTwin needs on a fresh Debian/Ubuntu machine: system packages (apt, when root or
# sudo is available), the Python virtualenv with pinned packages, and the npm front-end packages.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# curl and jq: the documentation's API examples (docs/) use them.
APT_PACKAGES=(python3-venv gdal-bin libgdal-dev libsqlite3-mod-spatialite curl jq
              postgresql-15-postgis-3 redis-server nodejs npm)
WITH_BROWSER=${WITH_BROWSER:-0}
[ "$WITH_BROWSER" = 1 ] && APT_PACKAGES+=(chromium)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node/npm may come from elsewhere than apt: only ask apt for them when the commands are absent.
command -v node >/dev/null && missing=("${missing[@]/nodejs}")
command -v npm >/dev/null && missing=("${missing[@]/npm}")
read -r -a missing <<< "${missing[*]:-}"
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "missing system packages: ${missing[*]} (install them as root)" >&2; exit 1; fi
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# Debian's python3: it can load SQLite extensions (SpatiaLite); other builds often cannot.
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

npm_stamp=node_modules/.package-lock.sha256
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_want" > "$npm_stamp"
fi
