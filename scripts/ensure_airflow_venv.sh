#!/usr/bin/env bash
# Creates (or refreshes) ./.venv-airflow: Apache Airflow 3.3 with its Beam and
# Google providers, for the example DAG's test. It cannot share .venv with the
# job (tfx-bsl, in the benchmarks extra, pins google-api-python-client<2; the
# Google provider needs >=2), so the DAG runs the job with .venv's Python.
# Cached like .venv: reinstalled only when constraints-airflow.txt changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv_lib.sh"
_install_airflow() {
  "$VENV_PYTHON" -m pip install -c "$ROOT/constraints-airflow.txt" \
    "apache-airflow==3.3.2" apache-airflow-providers-apache-beam \
    apache-airflow-providers-google
}
ensure_cached_venv "$ROOT/.venv-airflow" \
  "$(venv_key "$ROOT/constraints-airflow.txt")" \
  "first run only; about two minutes" _install_airflow
