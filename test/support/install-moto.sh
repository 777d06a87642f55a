#!/usr/bin/env bash
# Installs moto (an AWS API emulator) in server mode into .cache/venv-moto, for the integration
# tests under test/integration/moto/. Idempotent: when the pinned version is already installed it
# returns at once. `.ci/run` calls it; locally, run it once (`bash test/support/install-moto.sh`).
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION=5.2.5
venv="${MOTO_VENV:-.cache/venv-moto}"
marker="$venv/.moto-$MOTO_VERSION"

if [ -f "$marker" ] && [ -x "$venv/bin/moto_server" ]; then
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "install-moto: $python not found; install Python 3.9+ to run the moto integration tests" >&2
  exit 1
fi

echo "install-moto: creating $venv with moto[server]==$MOTO_VERSION…" >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
rm -f "$venv"/.moto-*
touch "$marker"
echo "install-moto: moto $MOTO_VERSION ready at $venv/bin/moto_server" >&2
