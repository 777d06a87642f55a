#!/usr/bin/env bash
# Installs the benchmark's peer, dlt (PyPI), with its sql_database source and both fast backends,
# into a virtualenv under .cache/ (git-ignored). Benchmarks only; the pipeline never imports it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.cache/dlt-venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "dlt[sql_database,parquet,filesystem]" psycopg2-binary connectorx pyarrow sqlalchemy
"$venv/bin/python" -c 'import dlt; print("dlt", dlt.__version__, "installed in '"$venv"'")'
