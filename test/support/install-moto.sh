#!/usr/bin/env bash
# Installs moto (an AWS API emulator) in server mode into .cache/venv-moto, for the integration
# tests under test/integration/moto/ and the offline cloud. Idempotent: when the pinned version is
# already installed it returns at once. `.ci/run` calls it (MOTO_VENV under the CI tools cache);
# locally, run it once (`bash test/support/install-moto.sh`). A failed install exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION=5.2.5
exec bash test/support/install-venv.sh moto "$MOTO_VERSION" "${MOTO_VENV:-.cache/venv-moto}" "moto[server]==$MOTO_VERSION" moto_server \
  'run the moto integration tests'
