#!/usr/bin/env bash
# Creates (or refreshes) ./.venv-airflow: Apache Airflow 3.3 with its Beam and
# Google providers, for the example DAG's test. It cannot share .venv with the
# job (tfx-bsl, in the benchmarks extra, pins google-api-python-client<2; the
# Google provider needs >=2), so the DAG runs the job with .venv's Python.
# Cached like .venv: reinstalled only when constraints-airflow.txt changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-airflow"
PY="${PYTHON:-python3}"
STAMP="$VENV/.installed-$(cat "$ROOT/constraints-airflow.txt" "$0" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "Setting up $VENV (first run only; about two minutes)..." >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  LOG="$VENV/install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade "pip>=23" &&
         "$VENV/bin/python" -m pip install -c "$ROOT/constraints-airflow.txt" \
           "apache-airflow==3.3.2" apache-airflow-providers-apache-beam \
           apache-airflow-providers-google; } >"$LOG" 2>&1; then
    tail -40 "$LOG" >&2
    echo "Setting up $VENV failed; full log: $LOG" >&2
    exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
