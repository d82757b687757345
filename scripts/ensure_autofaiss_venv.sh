#!/usr/bin/env bash
# Creates (or refreshes) ./.venv-autofaiss: autofaiss 2.18 with faiss-cpu 1.8
# (its OPQ calls break on 1.15, .venv's), for the index benchmark's autofaiss arm
# (benchmarks/index_budget.py). It cannot share .venv: autofaiss pins
# numpy<2 and pandas<3, and .venv has numpy 2 and pandas 3. Cached like
# .venv: reinstalled only when constraints-autofaiss.txt changes. Prints the
# venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv_lib.sh"
_install_autofaiss() {
  "$VENV_PYTHON" -m pip install -c "$ROOT/constraints-autofaiss.txt" \
    "autofaiss==2.18.0" "faiss-cpu==1.8.0"
}
ensure_cached_venv "$ROOT/.venv-autofaiss" \
  "$(venv_key "$ROOT/constraints-autofaiss.txt")" \
  "first run only; about a minute" _install_autofaiss
echo "$ROOT/.venv-autofaiss/bin/python"
