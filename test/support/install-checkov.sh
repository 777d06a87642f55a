#!/usr/bin/env bash
# Installs checkov (static analysis of Terraform, from PyPI) into a venv, for `npm run check:infra`.
# Idempotent: when the pinned version is already installed it returns at once. `.ci/run` calls it
# (CHECKOV_VENV under the CI tools cache); locally it goes to .cache/venv-checkov.
# A failed install exits non-zero: CI then stops, naming the tool.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECKOV_VERSION=3.3.30
exec bash test/support/install-venv.sh checkov "$CHECKOV_VERSION" "${CHECKOV_VENV:-.cache/venv-checkov}" "checkov==$CHECKOV_VERSION" checkov \
  'run npm run check:infra'
