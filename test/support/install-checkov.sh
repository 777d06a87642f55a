#!/usr/bin/env bash
# Installs checkov (static analysis of Terraform, from PyPI) into a venv, for `npm run check:infra`.
# Idempotent: when the pinned version is already installed it returns at once. `.ci/run` calls it
# (CHECKOV_VENV under the CI tools cache); locally it goes to .cache/venv-checkov.
# A failed install exits non-zero: CI then stops, naming the tool.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECKOV_VERSION=3.3.30
venv="${CHECKOV_VENV:-.cache/venv-checkov}"
marker="$venv/.checkov-$CHECKOV_VERSION"

if [ -f "$marker" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "install-checkov: $python not found; install Python 3.9+ to run npm run check:infra" >&2
  exit 1
fi

echo "install-checkov: creating $venv with checkov==$CHECKOV_VERSION…" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
"$venv/bin/checkov" --version >/dev/null
touch "$marker"
echo "install-checkov: checkov $CHECKOV_VERSION ready at $venv/bin/checkov" >&2
