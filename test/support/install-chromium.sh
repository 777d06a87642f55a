#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the data-docs rendering test
# (test/integration/docs/docs-site.test.ts). Idempotent: does nothing when chromium is on PATH.
# Needs root (apt); the test skips with a message where Chromium is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium present: $(chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium installed: $(chromium --version)"
