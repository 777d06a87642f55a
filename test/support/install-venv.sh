#!/usr/bin/env bash
# Installs one pinned Python tool from PyPI into its own venv, for the installers beside this file
# (install-moto.sh, install-checkov.sh):
#
#   install-venv.sh NAME VERSION VENV PIP_SPEC COMMAND [PURPOSE]
#
# NAME and VERSION mark the install (VENV/.NAME-VERSION); COMMAND is the program under VENV/bin/
# that must exist afterwards (and answer --help); PURPOSE ends the message when there is no
# Python. Idempotent: when the pinned version is installed it returns at once. Any failure exits
# non-zero, naming the tool, so `.ci/run` stops there.
set -euo pipefail

name="$1" version="$2" venv="$3" spec="$4" command="$5" purpose="${6:-}"
marker="$venv/.$name-$version"

if [ -f "$marker" ] && [ -x "$venv/bin/$command" ]; then
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "install-$name: $python not found; install Python 3.9+${purpose:+ to $purpose}" >&2
  exit 1
fi

echo "install-$name: creating $venv with $spec…" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2
"$venv/bin/$command" --help >/dev/null
touch "$marker"
echo "install-$name: $name $version ready at $venv/bin/$command" >&2
