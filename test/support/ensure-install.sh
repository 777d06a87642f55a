#!/usr/bin/env bash
# Installs the locked dependencies when node_modules is missing or older than package-lock.json,
# so `npm start` and `npm test` work on a fresh clone with nothing else run first.
set -euo pipefail
cd "$(dirname "$0")/../.."
marker=node_modules/.package-lock.json
if [ ! -f "$marker" ] || [ package-lock.json -nt "$marker" ]; then
  echo "totes: installing dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund >&2
fi
