#!/usr/bin/env bash
# Creates (or refreshes) ./.venv with the tested package set. Sourced by
# run_local.sh and run_tests.sh; needs only python3 on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv_lib.sh"
_install_project() {
  "$VENV_PYTHON" -m pip install -c "$ROOT/constraints.txt" \
    -e "$ROOT[test,samples,benchmarks,int8,search]"
}
ensure_cached_venv "$ROOT/.venv" \
  "$(venv_key "$ROOT/setup.py" "$ROOT/constraints.txt")" \
  "first run only; a few minutes" _install_project
export PATH="$ROOT/.venv/bin:$PATH"
