#!/usr/bin/env bash
# Creates (or refreshes) ./.venv with the tested package set. Sourced by
# run_local.sh and run_tests.sh; needs only python3 on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMP="$VENV/.installed-$(cat "$ROOT/setup.py" "$ROOT/constraints.txt" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "Setting up $VENV (first run only; a few minutes)..." >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  LOG="$VENV/install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade "pip>=23" &&
         "$VENV/bin/python" -m pip install -c "$ROOT/constraints.txt" \
           -e "$ROOT[test,samples,benchmarks]"; } >"$LOG" 2>&1; then
    tail -40 "$LOG" >&2
    echo "Setting up $VENV failed; full log: $LOG" >&2
    exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
